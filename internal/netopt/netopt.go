// Package netopt sets the socket options that let a server notice a peer
// that vanished without closing its connection.
package netopt

import (
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// SetUserTimeout asks the kernel to drop c when data sent on it stays
// unacknowledged for d: a peer whose machine or network vanished is then
// noticed d after the next write, instead of after the many minutes of
// TCP's own retransmissions. It looks through *tls.Conn to the TCP
// connection. On systems without the option (all but Linux) and for
// connections that are not TCP it does nothing and returns nil.
func SetUserTimeout(c net.Conn, d time.Duration) error {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok || d <= 0 {
		return nil
	}
	return setUserTimeout(tcp, d)
}

// UserTimeout returns the user timeout in force on c, or 0 when none is set
// or the system has no such option.
func UserTimeout(c net.Conn) (time.Duration, error) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return 0, nil
	}
	return userTimeout(tcp)
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
