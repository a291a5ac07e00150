package reliability

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// defaultReadHeaderTimeout is the http.Server's ReadHeaderTimeout: the
// examples' bound. (A shorter one would close connections whose client
// stalls between connecting and sending its request, as a test client
// starved on a loaded machine can.)
const defaultReadHeaderTimeout = 5 * time.Second

// A rig is a server set up as the examples set theirs up: an http.Server
// with ReadHeaderTimeout, an sse.Broker at /events and a ws.Hub at /ws,
// listening on 127.0.0.1.
type rig struct {
	t      testing.TB
	addr   string
	broker *sse.Broker
	hub    *ws.Hub
	srv    *http.Server
	ln     *trackingListener
	served chan struct{}
}

type rigOptions struct {
	broker sse.BrokerOptions
	hub    ws.HubOptions
	addr   string // "" means a free port of 127.0.0.1

	// readHeaderTimeout is the http.Server's; zero means
	// defaultReadHeaderTimeout.
	readHeaderTimeout time.Duration

	// sendBuffer, when not zero, is the kernel send buffer of every
	// connection the server accepts, for tests that need a peer's buffers
	// to fill quickly.
	sendBuffer int
}

// startRig starts a server with new Broker and Hub values. It is shut down
// when the test ends.
func startRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := serveRigBuffered(t, o.addr, sse.NewBroker(o.broker), ws.NewHub(o.hub), o.sendBuffer, o.readHeaderTimeout)
	return r
}

// serveRig serves b and h on addr ("" for a free port) until the test ends.
func serveRig(t testing.TB, addr string, b *sse.Broker, h *ws.Hub) *rig {
	t.Helper()
	return serveRigBuffered(t, addr, b, h, 0, 0)
}

// serveRigBuffered is serveRig with the kernel send buffer of accepted
// connections set to sendBuffer and the ReadHeaderTimeout set to rht, each
// unless it is zero.
func serveRigBuffered(t testing.TB, addr string, b *sse.Broker, h *ws.Hub, sendBuffer int, rht time.Duration) *rig {
	t.Helper()
	if rht == 0 {
		rht = defaultReadHeaderTimeout
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/events", b)
	mux.Handle("/ws", h)
	r := &rig{
		t:      t,
		addr:   l.Addr().String(),
		broker: b,
		hub:    h,
		srv:    &http.Server{Handler: mux, ReadHeaderTimeout: rht},
		ln:     &trackingListener{Listener: l, sendBuffer: sendBuffer, conns: make(map[*trackedConn]struct{})},
		served: make(chan struct{}),
	}
	go func() {
		defer close(r.served)
		r.srv.Serve(r.ln)
	}()
	t.Cleanup(r.close)
	return r
}

// shutdown stops the server gracefully, as the examples do: the listener
// closes first (so that clients reconnecting meet a closed port, not a 503
// that would stop a browser's EventSource), then the Broker and the Hub
// end their streams and connections, then the http.Server.
func (r *rig) shutdown(ctx context.Context) error {
	r.ln.Close()
	<-r.served
	var wg sync.WaitGroup
	var errB, errH error
	wg.Go(func() { errB = r.broker.Shutdown(ctx) })
	wg.Go(func() { errH = r.hub.Shutdown(ctx) })
	wg.Wait()
	return errors.Join(errB, errH, r.srv.Shutdown(ctx))
}

// crash stops the server the hard way: the listener and every connection
// it accepted, hijacked ones included, are closed at once. The Broker and
// the Hub are left as they are.
func (r *rig) crash() {
	r.ln.Close()
	<-r.served
	r.ln.closeAll()
}

// close frees everything; it runs when the test ends.
func (r *rig) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.ln.Close()
	<-r.served
	r.broker.Shutdown(ctx)
	r.hub.Shutdown(ctx)
	r.srv.Close()
	r.ln.closeAll()
}

// url returns the address of path on the rig, with scheme http.
func (r *rig) url(path string) string { return "http://" + r.addr + path }

// A trackingListener keeps every connection it accepted until it is
// closed, so that a test can cut them all, hijacked ones too.
type trackingListener struct {
	net.Listener
	sendBuffer int

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tcp, ok := c.(*net.TCPConn); ok && l.sendBuffer > 0 {
		tcp.SetWriteBuffer(l.sendBuffer)
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
