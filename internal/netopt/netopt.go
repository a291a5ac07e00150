// Package netopt sets the socket options that let a server notice a peer
// that vanished without closing its connection, and bound what the kernel
// holds for a peer that does not read.
package netopt

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// NotSentLowat is what a connection may have written and the kernel not
// yet sent, once set with SetNotSentLowat: a write waits past it. Without
// it, Linux grows a socket's send buffer up to net.ipv4.tcp_wmem's maximum
// (4 MiB by default) for a peer that does not read, and a server whose
// writers each hand the kernel a large batch (a resume's replay) holds
// that much in kernel memory per connection: 2,000 such peers took the
// host's TCP memory past its pressure level. What the kernel holds for a
// connection is then about NotSentLowat plus one segment being built,
// plus what is in flight (bounded by the peer's receive window).
const NotSentLowat = 16 << 10

// SetUserTimeout asks the kernel to drop c when data sent on it stays
// unacknowledged for d: a peer whose machine or network vanished is then
// noticed d after the next write, instead of after the many minutes of
// TCP's own retransmissions. It looks through *tls.Conn, and any wrapper
// with a NetConn method, to the TCP connection. On systems without the option (all but Linux) and for
// connections that are not TCP it does nothing and returns nil.
func SetUserTimeout(c net.Conn, d time.Duration) error {
	tcp, ok := tcpConn(c)
	if !ok || d <= 0 {
		return nil
	}
	return setUserTimeout(tcp, d)
}

// UserTimeout returns the user timeout in force on c, or 0 when none is set
// or the system has no such option.
func UserTimeout(c net.Conn) (time.Duration, error) {
	tcp, ok := tcpConn(c)
	if !ok {
		return 0, nil
	}
	return userTimeout(tcp)
}

// ReceiveBuffer is the kernel receive buffer set with SetReceiveBuffer.
// Linux grows a connection's receive buffer while the server reads fast
// (up to net.ipv4.tcp_rmem's maximum, 6 MiB by default); a client that
// sends fast while the server reads, and goes on sending once it stops
// (a WebSocket echo whose client does not read), then fills it: 2.8 MB
// per connection was measured on loopback. With it, the kernel holds
// about twice ReceiveBuffer (its bookkeeping) for a connection, and the
// client may send ReceiveBuffer per round trip: 1.3 MB/s at 100 ms.
const ReceiveBuffer = 128 << 10

// SetReceiveBuffer sets c's kernel receive buffer to n bytes (SO_RCVBUF),
// which stops the kernel from growing it. It looks through *tls.Conn, and
// any wrapper with a NetConn method, to the TCP connection; for
// connections that are not TCP it does nothing and returns nil.
func SetReceiveBuffer(c net.Conn, n int) error {
	tcp, ok := tcpConn(c)
	if !ok || n <= 0 {
		return nil
	}
	if err := tcp.SetReadBuffer(n); err != nil {
		return fmt.Errorf("netopt: set SO_RCVBUF: %w", err)
	}
	return nil
}

// SetNotSentLowat asks the kernel to hold at most n bytes written to c and
// not yet sent (TCP_NOTSENT_LOWAT): a write blocks until the rest has been
// sent, so what a peer that does not read makes the kernel hold is bounded
// by n and its receive window, not by the socket's send buffer. It looks
// through *tls.Conn, and any wrapper with a NetConn method, to the TCP
// connection. On systems without the option
// (all but Linux) and for connections that are not TCP it does nothing and
// returns nil.
func SetNotSentLowat(c net.Conn, n int) error {
	tcp, ok := tcpConn(c)
	if !ok || n <= 0 {
		return nil
	}
	return setNotSentLowat(tcp, n)
}

// GetNotSentLowat returns the TCP_NOTSENT_LOWAT in force on c, or 0 when
// none is set or the system has no such option.
func GetNotSentLowat(c net.Conn) (int, error) {
	tcp, ok := tcpConn(c)
	if !ok {
		return 0, nil
	}
	return notSentLowat(tcp)
}

// tcpConn returns the TCP connection under c: c itself, or what a wrapper
// with a NetConn method (*tls.Conn, a listener's wrapper) holds.
func tcpConn(c net.Conn) (*net.TCPConn, bool) {
	for range 8 { // wrappers in wrappers, but no cycle
		switch t := c.(type) {
		case *net.TCPConn:
			return t, true
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return nil, false
		}
	}
	return nil, false
}

// ReadAvailable reads into p what c has received and not yet read, without
// waiting for more: 0, nil when nothing waits, and io.EOF once the peer
// closed its side. It is for TCP connections on Linux; for others it
// returns errors.ErrUnsupported and reads nothing.
func ReadAvailable(c net.Conn, p []byte) (int, error) {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	return readAvailable(tcp, p)
}
