package wstest

import (
	"errors"
	"net"
	"sync"
)

// A Listener is a net.Listener that watches the connections it accepted:
// how many bytes the server read from each and whether the server waits in
// a Read of it now. A test uses it to wait, without sleeping, until the
// server has consumed everything a client sent and is waiting for more.
type Listener struct {
	net.Listener

	mu    sync.Mutex
	conns map[string]*watchedConn // by the client's address
}

// Watch returns a Listener over ln.
func Watch(ln net.Listener) *Listener {
	return &Listener{Listener: ln, conns: make(map[string]*watchedConn)}
}

// Accept accepts a connection and starts watching it.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	wc := &watchedConn{Conn: c}
	l.mu.Lock()
	l.conns[c.RemoteAddr().String()] = wc
	l.mu.Unlock()
	return wc, nil
}

// State returns how many bytes the server read from the connection whose
// client end has the local address client, and whether the server is
// waiting in a Read of it now. It returns 0, false for a connection not
// accepted (yet).
func (l *Listener) State(client net.Addr) (read int64, waiting bool) {
	l.mu.Lock()
	wc := l.conns[client.String()]
	l.mu.Unlock()
	if wc == nil {
		return 0, false
	}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.read, wc.waiting
}

// Closed reports whether the server closed the connection whose client
// end has the local address client.
func (l *Listener) Closed(client net.Addr) bool {
	l.mu.Lock()
	wc := l.conns[client.String()]
	l.mu.Unlock()
	if wc == nil {
		return false
	}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.closed
}

// A watchedConn counts what the server reads from it.
type watchedConn struct {
	net.Conn

	mu      sync.Mutex
	read    int64
	waiting bool
	closed  bool // the server closed the connection
}

// Close closes the connection and records that the server closed it.
func (c *watchedConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *watchedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.waiting = true
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read += int64(n)
	c.waiting = false
	c.mu.Unlock()
	return n, err
}

// NetConn returns the connection c watches, so that a server can set its
// socket options.
func (c *watchedConn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes the connection when the underlying one can, as
// servers do at the end of a closing handshake.
func (c *watchedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
