package compat

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Bounds of the suite: how long a test waits for something that should
// happen at once (an event, EOF, a close frame) before it fails.
const (
	waitBound     = 10 * time.Second
	shutdownBound = 10 * time.Second
)

// A proto is the HTTP version between the client and the server it talks
// to.
type proto int

const (
	h1 proto = 1 // HTTP/1.1 over plain TCP
	h2 proto = 2 // HTTP/2 over TLS (WebSockets: HTTP/1.1 over the same TLS server)
)

func (p proto) String() string {
	if p == h2 {
		return "h2"
	}
	return "h1"
}

// topicOf is the Topics hook of the Broker and the Hub: a {topic} path
// wildcard when the route has one (ServeMux patterns), else the "topic"
// query parameters.
func topicOf(r *http.Request) ([]string, error) {
	if t := r.PathValue("topic"); t != "" {
		return []string{t}, nil
	}
	return r.URL.Query()["topic"], nil
}

// app is what a user's server serves: the Broker, the Hub and an echo
// handler, with their logs.
type app struct {
	broker    *sse.Broker
	brokerLog *recordLog
	hub       *ws.Hub
	hubLog    *recordLog
	echo      *echoServer
}

// rigOptions change how a rig is set up.
type rigOptions struct {
	// noShutdownHooks leaves the Broker, Hub and echo handler out of
	// RegisterOnShutdown.
	noShutdownHooks bool
	// hubOptions and acceptOptions, when set, adjust the options of the
	// Hub and of the echo handler's Accept before they are used.
	hubOptions    func(*ws.HubOptions) error
	acceptOptions func(*ws.AcceptOptions) error
	// writeTimeout is the WriteTimeout of the server that holds the app.
	writeTimeout time.Duration
}

// A rig is a user's server with one middleware stack: the app behind the
// stack, served over proto. With a proxy stack, clients talk to the front
// server (the proxy) and the app runs on a backend server behind it.
type rig struct {
	t     *testing.T
	stack stack
	proto proto
	app
	access *lockedBuffer // the stack's access log

	inflight atomic.Int64 // requests in the app server's handler now

	srv   *httptest.Server // the server that holds the app
	front *httptest.Server // the server clients talk to (srv but for proxies)
}

func newRig(t *testing.T, st stack, p proto, o rigOptions) *rig {
	t.Helper()
	leakcheck.Check(t)
	r := &rig{t: t, stack: st, proto: p, access: &lockedBuffer{}}

	r.brokerLog = &recordLog{}
	r.broker = sse.NewBroker(sse.BrokerOptions{
		Topics: topicOf,
		Logger: slog.New(r.brokerLog),
		// Short enough that a stream nobody ends on purpose still ends
		// within the test, long enough never to show in a normal case.
		Heartbeat: 2 * time.Second,
	})
	r.hubLog = &recordLog{}
	hubOpts := ws.HubOptions{Topics: topicOf, Conn: ws.AcceptOptions{Logger: slog.New(r.hubLog)}}
	var optErrs []error
	if o.hubOptions != nil {
		optErrs = append(optErrs, o.hubOptions(&hubOpts))
	}
	acceptOpts := &ws.AcceptOptions{}
	if o.acceptOptions != nil {
		optErrs = append(optErrs, o.acceptOptions(acceptOpts))
	}
	if err := errors.Join(optErrs...); err != nil {
		t.Fatal(err)
	}
	r.hub = ws.NewHub(hubOpts)
	r.echo = newEchoServer(acceptOpts)

	routes := st.routes(r.app)
	if st.proxy == nil {
		r.srv = startServer(t, r.counted(st.wrap(routes, r.access)), p, o.writeTimeout)
		r.front = r.srv
	} else {
		r.srv = startServer(t, r.counted(routes), h1, o.writeTimeout)
		target, _ := url.Parse(r.srv.URL)
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		r.front = startServer(t, st.proxy(target, tr), p, 0)
	}
	if !o.noShutdownHooks {
		hs := r.srv.Config
		hs.RegisterOnShutdown(func() { r.shutdownApp() })
	}
	t.Cleanup(func() {
		r.front.Close()
		r.srv.Close()
		r.shutdownApp()
	})
	return r
}

// shutdownApp ends the app's streams and connections, as a user's
// function registered with RegisterOnShutdown does.
func (r *rig) shutdownApp() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownBound)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { r.broker.Shutdown(ctx) })
	wg.Go(func() { r.hub.Shutdown(ctx) })
	wg.Go(r.echo.shutdown)
	wg.Wait()
}

// startServer serves h on 127.0.0.1 over p, with the given WriteTimeout.
func startServer(t *testing.T, h http.Handler, p proto, writeTimeout time.Duration) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ReadHeaderTimeout = waitBound
	ts.Config.WriteTimeout = writeTimeout
	if p == h2 {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

// url returns the address of path on the front server.
func (r *rig) url(path string) string { return r.front.URL + path }

// client returns an HTTP client for the front server: HTTP/2 over TLS for
// h2, HTTP/1.1 for h1.
func (r *rig) client() *http.Client {
	c := r.front.Client()
	if r.proto == h2 {
		tr := c.Transport.(*http.Transport)
		tr.ForceAttemptHTTP2 = true
	}
	return c
}

// tlsConfig returns the TLS configuration a WebSocket client uses with
// the front server: HTTP/1.1 over its TLS, as browsers open WebSockets.
func (r *rig) tlsConfig() *tls.Config {
	c := r.front.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	c.NextProtos = []string{"http/1.1"}
	return c
}

// shutdown shuts down the server that holds the app, the way a user's
// program does on SIGTERM, and returns its error.
func (r *rig) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownBound)
	defer cancel()
	return r.srv.Config.Shutdown(ctx)
}

// counted counts the requests in h, as the server sees them: from the
// call of its handler to its return.
func (r *rig) counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.inflight.Add(1)
		defer r.inflight.Add(-1)
		h.ServeHTTP(w, req)
	})
}
