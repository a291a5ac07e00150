package sse

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds the waits of these tests for something to happen.
const waitTimeout = 20 * time.Second

// connTimeout bounds a test's whole request, its stream read to the end:
// it only catches a hang, as a loaded machine can take many seconds for a
// stream of thousands of events.
const connTimeout = 3 * waitTimeout

// newServer serves h on 127.0.0.1, over HTTP/2 with TLS when h2 is true,
// and closes it when the test ends.
func newServer(t testing.TB, h http.Handler, h2 bool) (*httptest.Server, *http.Client) {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	if h2 {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	c := ts.Client()
	t.Cleanup(func() {
		c.CloseIdleConnections()
		ts.Close()
	})
	return ts, c
}

// open starts a stream and checks its answer.
func open(t testing.TB, c *http.Client, url string, header ...string) (*http.Response, *Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return resp, NewReader(resp.Body)
}

// next reads one event or fails.
func next(t testing.TB, r *Reader) Event {
	t.Helper()
	type result struct {
		ev  Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		ev, err := r.Next()
		done <- result{ev, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("Next: %v", res.err)
		}
		return res.ev
	case <-time.After(hangBound): // only catches a stream that never sends
		t.Fatalf("Next: no event in %v", hangBound)
		return Event{}
	}
}

// hangBound is how long next waits for an event before it calls the test
// hung: far beyond any wait of a test that works, on a loaded machine.
const hangBound = 2 * time.Minute

// rawStream opens a stream over a bare TCP connection and reads only its
// response headers, so the test controls whether the body is ever read.
func rawStream(t testing.TB, addr, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, addr)
	br := bufio.NewReaderSize(conn, 512)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("raw stream: status %q, %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("raw stream: %v", err)
		}
		if line == "\r\n" {
			return conn, br
		}
	}
}

// dropListener remembers the connections it accepts, so that a test can
// break them all, hijacked ones included (httptest's
// CloseClientConnections forgets hijacked connections).
type dropListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// dropAll closes every connection accepted so far.
func (l *dropListener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// newDropServer is newServer over HTTP/1.1 with a dropListener.
func newDropServer(t testing.TB, h http.Handler) (*httptest.Server, *http.Client, *dropListener) {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	dl := &dropListener{Listener: ts.Listener}
	ts.Listener = dl
	ts.Start()
	c := ts.Client()
	t.Cleanup(func() {
		c.CloseIdleConnections()
		ts.Close()
		dl.dropAll()
	})
	return ts, c, dl
}

// flushOnly is middleware's ResponseWriter that offers Flush and write
// deadlines but neither Hijack nor Unwrap: the Broker serves it from the
// handler's goroutine.
type flushOnly struct{ w http.ResponseWriter }

func (f flushOnly) SetWriteDeadline(t time.Time) error {
	return http.NewResponseController(f.w).SetWriteDeadline(t)
}

func (f flushOnly) Header() http.Header         { return f.w.Header() }
func (f flushOnly) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f flushOnly) WriteHeader(code int)        { f.w.WriteHeader(code) }
func (f flushOnly) Flush()                      { f.w.(http.Flusher).Flush() }

// modes are the ways a Broker serves a stream: in its handler over
// HTTP/1.1, taken over from net/http (BrokerOptions.TakeOver), in its
// handler behind a wrapper that can flush but has no Unwrap, and over
// HTTP/2.
var modes = []string{"http1", "http1-takeover", "http1-handler", "http2"}

// modeOptions returns o as mode needs it.
func modeOptions(mode string, o BrokerOptions) BrokerOptions {
	o.TakeOver = mode == "http1-takeover"
	return o
}

// newModeServer serves b in the given mode.
func newModeServer(t testing.TB, b http.Handler, mode string) (*httptest.Server, *http.Client) {
	t.Helper()
	switch mode {
	case "http1-handler":
		return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.ServeHTTP(flushOnly{w}, r)
		}), false)
	case "http2":
		return newServer(t, b, true)
	case "https1":
		ts := httptest.NewUnstartedServer(b)
		ts.StartTLS() // without EnableHTTP2: HTTP/1.1 over TLS
		c := ts.Client()
		t.Cleanup(func() {
			c.CloseIdleConnections()
			ts.Close()
		})
		return ts, c
	}
	return newServer(t, b, false)
}
