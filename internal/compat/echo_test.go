package compat

import (
	"context"
	"net/http"
	"sync"

	"github.com/realtime-go/realtime/ws"
)

// echoServer is a WebSocket echo handler written as a user writes one with
// ws.Accept, with the shutdown function its server registers.
type echoServer struct {
	opts *ws.AcceptOptions

	mu    sync.Mutex
	conns map[*ws.Conn]struct{}
	errs  []error // errors of refused handshakes, as the user's log has them
}

func newEchoServer(opts *ws.AcceptOptions) *echoServer {
	return &echoServer{opts: opts, conns: make(map[*ws.Conn]struct{})}
}

func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, e.opts)
	if err != nil {
		e.mu.Lock()
		e.errs = append(e.errs, err)
		e.mu.Unlock()
		return
	}
	e.mu.Lock()
	e.conns[c] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
	}()
	for {
		typ, data, err := c.Read(context.Background())
		if err != nil {
			return
		}
		if err := c.Send(typ, data); err != nil {
			return
		}
	}
}

// refusals returns the errors of the handshakes Accept refused.
func (e *echoServer) refusals() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

// open returns the number of connections open.
func (e *echoServer) open() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns)
}

// shutdown closes every connection with StatusGoingAway.
func (e *echoServer) shutdown() {
	e.mu.Lock()
	conns := make([]*ws.Conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.Close(ws.StatusGoingAway, "server shutting down") })
	}
	wg.Wait()
}
