package browsertest

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// A gateway is a reverse proxy in front of one backend, as nginx or Caddy
// runs in front of a server: httputil.ReverseProxy, which answers 502 Bad
// Gateway while nothing listens at the backend's address (a restart).
type gateway struct {
	srv  *http.Server
	addr string
	done chan struct{}

	mu       sync.Mutex
	bad      int           // 502 answers to /events
	badEvent chan struct{} // closed and replaced at each 502 answer to /events
}

// startGateway serves a proxy to backend ("127.0.0.1:port") on a port of
// 127.0.0.1 of its own until the end of the test.
func startGateway(t testing.TB, backend string) *gateway {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: backend}
	g := &gateway{done: make(chan struct{}), badEvent: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the browser's Host
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if r.URL.Path == "/events" {
			g.mu.Lock()
			g.bad++
			close(g.badEvent)
			g.badEvent = make(chan struct{})
			g.mu.Unlock()
		}
		http.Error(w, "502 Bad Gateway: the server behind this proxy does not answer", http.StatusBadGateway)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	g.addr = ln.Addr().String()
	g.srv = &http.Server{Handler: rp}
	go func() {
		defer close(g.done)
		if err := g.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("gateway: %v", err)
		}
	}()
	t.Cleanup(func() {
		g.srv.Close()
		<-g.done
	})
	return g
}

// url returns the address of path through the gateway.
func (g *gateway) url(path string) string { return "http://" + g.addr + path }

// nextBadEvent returns a channel closed at the next 502 answer to /events.
func (g *gateway) nextBadEvent() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.badEvent
}
