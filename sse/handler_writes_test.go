package sse

import (
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// flushSpy is a middleware's ResponseWriter that records whether a write
// or flush ran on the goroutine of the handler it wraps (whose stack holds
// flushSpy.ServeHTTP's frame).
type flushSpy struct {
	http.ResponseWriter
	mu        sync.Mutex
	onHandler int // writes and flushes made on the handler's goroutine
	total     int
	writes    int // calls of Write with bytes
}

func (f *flushSpy) Unwrap() http.ResponseWriter { return f.ResponseWriter }

func (f *flushSpy) note() {
	buf := make([]byte, 64<<10)
	stack := string(buf[:runtime.Stack(buf, false)])
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	if strings.Contains(stack, "(*spyMiddleware).ServeHTTP") {
		f.onHandler++
	}
}

func (f *flushSpy) Write(p []byte) (int, error) {
	f.note()
	if len(p) > 0 {
		f.mu.Lock()
		f.writes++
		f.mu.Unlock()
	}
	return f.ResponseWriter.Write(p)
}
func (f *flushSpy) WriteHeader(code int) { f.note(); f.ResponseWriter.WriteHeader(code) }
func (f *flushSpy) FlushError() error {
	f.note()
	return http.NewResponseController(f.ResponseWriter).Flush()
}

type spyMiddleware struct {
	next http.Handler
	spy  chan *flushSpy
}

func (m *spyMiddleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := &flushSpy{ResponseWriter: w}
	m.spy <- f
	m.next.ServeHTTP(f, r)
}

// TestHandlerGoroutineDoesNotWrite: a stream served in its handler sends
// its response head and its events from its writer, never from the
// handler's goroutine, which only waits. net/http's write path is deep:
// run once on the handler's goroutine, it grows that stack from 4 to
// 8 KiB, kept by every idle stream.
func TestHandlerGoroutineDoesNotWrite(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		b := NewBroker(BrokerOptions{Retry: 1000})
		m := &spyMiddleware{next: b, spy: make(chan *flushSpy, 1)}
		ts, c := newServer(t, m, h2)
		_, r := open(t, c, ts.URL+"?topic=a")
		spy := <-m.spy
		if _, err := b.Publish("a", Event{Data: "x"}); err != nil {
			t.Fatal(err)
		}
		if ev := next(t, r); ev.Data != "x" {
			t.Fatalf("got %+v", ev)
		}
		spy.mu.Lock()
		onHandler, total := spy.onHandler, spy.total
		spy.mu.Unlock()
		if total == 0 {
			t.Fatalf("h2 %v: no write went through the middleware's ResponseWriter", h2)
		}
		if onHandler > 0 {
			t.Errorf("h2 %v: %d of %d writes and flushes ran on the handler's goroutine", h2, onHandler, total)
		}
	}
}

// TestRoundIsOneWrite: the events a round takes reach the ResponseWriter
// in one Write (each Write costs net/http a lock and checks, and the
// response's 2 KiB buffer more system calls), here a resume's 49 events.
func TestRoundIsOneWrite(t *testing.T) {
	b := NewBroker(BrokerOptions{Heartbeat: -1, Retry: -1})
	m := &spyMiddleware{next: b, spy: make(chan *flushSpy, 1)}
	ts, c := newServer(t, m, false)
	var first string
	for i := range 50 {
		id, err := b.Publish("a", Event{Data: strings.Repeat("x", 40)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = id
		}
	}
	_, r := open(t, c, ts.URL+"?topic=a", "Last-Event-ID", first)
	spy := <-m.spy
	for range 49 {
		next(t, r)
	}
	spy.mu.Lock()
	writes := spy.writes
	spy.mu.Unlock()
	if writes > 1 {
		t.Errorf("49 events of one round came in %d Writes, want 1", writes)
	}
}
