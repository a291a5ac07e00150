package sse

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/testutil"
)

// hookRecorder records the calls of OnConnect and OnClose.
type hookRecorder struct {
	mu       sync.Mutex
	connects []string
	closes   chan closeCall
}

type closeCall struct {
	user string
	err  error
}

func newHookRecorder() *hookRecorder { return &hookRecorder{closes: make(chan closeCall, 16)} }

func (h *hookRecorder) options(o BrokerOptions) BrokerOptions {
	o.OnConnect = func(r *http.Request, topics []string) {
		user, _ := testutil.User(r.Context())
		h.mu.Lock()
		defer h.mu.Unlock()
		h.connects = append(h.connects, fmt.Sprintf("%v %v", user, topics))
	}
	o.OnClose = func(r *http.Request, err error) {
		user, _ := testutil.User(r.Context())
		h.closes <- closeCall{user, err}
	}
	return o
}

func (h *hookRecorder) connected() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.connects)
}

// TestBrokerCallbacks: OnConnect and OnClose run once per stream, in every
// way a stream is served, with the stream's request (and what middleware
// put in its context) and why it ended; never for a refused request.
func TestBrokerCallbacks(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { testBrokerCallbacks(t, mode) })
	}
}

func testBrokerCallbacks(t *testing.T, mode string) {
	leakcheck.CheckWithin(t, waitTimeout)
	rec := newHookRecorder()
	b := NewBroker(rec.options(modeOptions(mode, BrokerOptions{MaxClients: 1})))
	ts, c := newModeServer(t, testutil.WithUser(b), mode)

	resp, r := open(t, c, ts.URL+"?topic=b&topic=a&user=ann")
	id := publish(t, b, "a", Event{Data: "x"})
	if ev := next(t, r); ev.ID != id {
		t.Fatalf("got %+v", ev)
	}
	if got := rec.connected(); !slices.Equal(got, []string{"ann [b a]"}) {
		t.Fatalf("OnConnect calls %q, want one for ann with topics [b a]", got)
	}

	// Refused requests: no callbacks.
	for _, req := range []struct{ method, query string }{
		{http.MethodGet, "?topic=a&user=full"},  // MaxClients is 1
		{http.MethodPost, "?topic=a&user=post"}, // 405
		{http.MethodGet, "?user=notopic"},       // 400
		{http.MethodHead, "?topic=a&user=head"}, // headers only: not a stream
	} {
		rq, _ := http.NewRequest(req.method, ts.URL+req.query, nil)
		res, err := c.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}

	resp.Body.Close() // the client goes away
	select {
	case cl := <-rec.closes:
		if cl.user != "ann" || !errors.Is(cl.err, ErrClientGone) {
			t.Errorf("OnClose(%q, %v), want ann and ErrClientGone", cl.user, cl.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no OnClose after the client went away")
	}

	_, r = open(t, c, ts.URL+"?topic=a&user=bob")
	id = publish(t, b, "a", Event{Data: "y"})
	if ev := next(t, r); ev.ID != id {
		t.Fatalf("got %+v", ev)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select { // Shutdown waits for OnClose
	case cl := <-rec.closes:
		if cl.user != "bob" || !errors.Is(cl.err, ErrClosed) {
			t.Errorf("OnClose(%q, %v), want bob and ErrClosed", cl.user, cl.err)
		}
	default:
		t.Fatal("Shutdown returned before OnClose ran")
	}
	if got := rec.connected(); !slices.Equal(got, []string{"ann [b a]", "bob [a]"}) {
		t.Errorf("OnConnect calls %q, want ann's and bob's only", got)
	}
	select {
	case cl := <-rec.closes:
		t.Errorf("OnClose called again: %+v", cl)
	default:
	}
}

// TestBrokerOnCloseRequestContext: a stream whose request context ends for
// another reason than the client leaving tells OnClose that cause.
func TestBrokerOnCloseRequestContext(t *testing.T) {
	for _, mode := range []string{"http1", "http1-handler", "http2"} {
		t.Run(mode, func(t *testing.T) {
			leakcheck.CheckWithin(t, waitTimeout)
			errTimeout := errors.New("middleware deadline")
			cancels := make(chan context.CancelCauseFunc, 1)
			rec := newHookRecorder()
			b := NewBroker(rec.options(BrokerOptions{}))
			defer b.Shutdown(context.Background())
			ts, c := newModeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, cancel := context.WithCancelCause(r.Context())
				cancels <- cancel
				b.ServeHTTP(w, r.WithContext(ctx))
			}), mode)
			_, r := open(t, c, ts.URL+"?topic=a")
			publish(t, b, "a", Event{Data: "x"})
			next(t, r)
			(<-cancels)(errTimeout)
			if cl := <-rec.closes; !errors.Is(cl.err, errTimeout) || errors.Is(cl.err, ErrClientGone) {
				t.Errorf("OnClose error %v, want the context's cause", cl.err)
			}
		})
	}
}

// TestBrokerOnCloseSlowConsumer: a stream cut because its client stopped
// reading ends with ErrSlowConsumer.
func TestBrokerOnCloseSlowConsumer(t *testing.T) {
	for _, mode := range modes[:2] {
		t.Run(mode, func(t *testing.T) {
			leakcheck.CheckWithin(t, waitTimeout)
			rec := newHookRecorder()
			b := NewBroker(rec.options(modeOptions(mode, BrokerOptions{WriteTimeout: 200 * time.Millisecond, Heartbeat: -1})))
			defer b.Shutdown(context.Background())
			ts, _ := newModeServer(t, b, mode)
			conn, _ := rawStream(t, ts.Listener.Addr().String(), "/?topic=a")
			defer conn.Close()
			payload := Event{Data: strings.Repeat("x", 32<<10)}
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			timeout := time.After(waitTimeout)
			for {
				select {
				case cl := <-rec.closes:
					if !errors.Is(cl.err, ErrSlowConsumer) {
						t.Errorf("OnClose error %v, want ErrSlowConsumer", cl.err)
					}
					return
				case <-tick.C:
					publish(t, b, "a", payload)
				case <-timeout:
					t.Fatal("the stalled stream did not end")
				}
			}
		})
	}
}

// TestBrokerCallbackPanics: a panic in OnConnect is logged, answers 500
// and still gets its OnClose; a panic in OnClose is logged; the Broker
// goes on serving.
func TestBrokerCallbackPanics(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			leakcheck.CheckWithin(t, waitTimeout)
			var log testutil.Buffer
			closes := make(chan error, 4)
			b := NewBroker(modeOptions(mode, BrokerOptions{
				Logger: log.Logger(),
				OnConnect: func(r *http.Request, _ []string) {
					if r.URL.Query().Get("user") == "evil" {
						panic("boom in connect")
					}
				},
				OnClose: func(r *http.Request, err error) {
					closes <- err
					panic("boom in close")
				},
			}))
			ts, c := newModeServer(t, b, mode)
			res, err := c.Get(ts.URL + "?topic=a&user=evil")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusInternalServerError {
				t.Errorf("status %d after a panic in OnConnect, want 500", res.StatusCode)
			}
			if err := <-closes; err == nil || !strings.Contains(err.Error(), "boom in connect") {
				t.Errorf("OnClose error %v, want the panic", err)
			}
			resp, r := open(t, c, ts.URL+"?topic=a&user=ann")
			id := publish(t, b, "a", Event{Data: "x"})
			if ev := next(t, r); ev.ID != id {
				t.Fatalf("after panics: %+v", ev)
			}
			resp.Body.Close()
			<-closes
			if err := b.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"panic in OnConnect", "boom in connect", "panic in OnClose", "boom in close"} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, log.String())
				}
			}
		})
	}
}

// TestBrokerHandlerPanics: a panic in the request's handling (here in
// ClientAddr) reaches net/http as a panic of the handler, which recovers
// it and drops that request's connection; the Broker logs it with the
// stack where it happened, and goes on serving.
func TestBrokerHandlerPanics(t *testing.T) {
	for _, mode := range []string{"http1", "http2"} {
		t.Run(mode, func(t *testing.T) {
			var log, serverLog testutil.Buffer
			b := NewBroker(BrokerOptions{
				Logger: log.Logger(),
				ClientAddr: func(r *http.Request) string {
					if r.URL.Query().Get("user") == "evil" {
						panic("boom in client addr")
					}
					return r.RemoteAddr
				},
			})
			ts := httptest.NewUnstartedServer(b)
			ts.Config.ErrorLog = stdlog.New(&serverLog, "", 0)
			ts.EnableHTTP2 = mode == "http2"
			ts.StartTLS()
			c := ts.Client()
			defer ts.Close()
			if res, err := c.Get(ts.URL + "?topic=a&user=evil"); err == nil {
				res.Body.Close()
				t.Fatalf("a request whose handler panicked got %s", res.Status)
			}
			_, r := open(t, c, ts.URL+"?topic=a&user=ann")
			id := publish(t, b, "a", Event{Data: "x"})
			if ev := next(t, r); ev.ID != id {
				t.Fatalf("after a panic: %+v", ev)
			}
			if err := b.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"panic in ServeHTTP", "boom in client addr", "clientAddr"} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, log.String())
				}
			}
			if !strings.Contains(serverLog.String(), "boom in client addr") {
				t.Errorf("net/http did not recover the panic; its log:\n%s", serverLog.String())
			}
		})
	}
}
