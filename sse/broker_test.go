package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

func publish(t testing.TB, b *Broker, topic string, ev Event) string {
	t.Helper()
	id, err := b.Publish(topic, ev)
	if err != nil {
		t.Fatalf("Publish(%q): %v", topic, err)
	}
	return id
}

func TestBrokerDelivers(t *testing.T) {
	for _, mode := range append(modes, "https1") {
		t.Run(mode, func(t *testing.T) {
			leakcheck.Check(t)
			b := NewBroker(modeOptions(mode, BrokerOptions{}))
			ts, c := newModeServer(t, b, mode)
			h2 := mode == "http2"
			resp, r := open(t, c, ts.URL+"?topic=a&topic=b")
			if resp.TLS == nil != (mode == "http1" || mode == "http1-takeover" || mode == "http1-handler") {
				t.Fatalf("TLS %v in mode %s", resp.TLS != nil, mode)
			}
			if h2 != (resp.ProtoMajor == 2) {
				t.Fatalf("protocol %s, want HTTP/2 %v", resp.Proto, h2)
			}
			for k, v := range map[string]string{
				"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
			} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			var ids []string
			ids = append(ids, publish(t, b, "a", Event{Data: "1"}))
			publish(t, b, "other", Event{Data: "not for us"})
			ids = append(ids, publish(t, b, "b", Event{Type: "tick", Data: "2\n2"}))
			ids = append(ids, publish(t, b, "a", Event{Data: "3", ID: "ignored"}))

			want := []Event{
				{ID: ids[0], Type: "message", Data: "1", Retry: defaultRetry},
				{ID: ids[1], Type: "tick", Data: "2\n2"},
				{ID: ids[2], Type: "message", Data: "3"},
			}
			for _, w := range want {
				if got := next(t, r); got != w {
					t.Errorf("got %+v, want %+v", got, w)
				}
			}
			if s := b.Stats(); s.Clients != 1 || s.Opened != 1 || s.Published != 4 || s.Delivered != 3 {
				t.Errorf("Stats = %+v", s)
			}
			if err := b.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("after Shutdown, Next = %v, want io.EOF (a clean end)", err)
			}
		})
	}
}

func TestBrokerHeartbeat(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			leakcheck.Check(t)
			b := NewBroker(modeOptions(mode, BrokerOptions{Heartbeat: 10 * time.Millisecond}))
			ts, c := newModeServer(t, b, mode)
			_, r := open(t, c, ts.URL+"?topic=a")
			beats := 0
			r.OnComment = func(string) {
				if beats++; beats == 3 {
					publish(t, b, "a", Event{Data: "after beats"})
				}
			}
			if ev := next(t, r); ev.Data != "after beats" || beats < 3 {
				t.Fatalf("got %+v after %d heartbeats", ev, beats)
			}
			b.Shutdown(context.Background())
		})
	}
}

func TestBrokerResume(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{Retry: 5 * time.Millisecond})
	ts, c, dl := newDropServer(t, b)

	// A browser-style client: it reads events until the connection drops,
	// then reconnects with Last-Event-ID.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := (&Client{HTTPClient: c}).Subscribe(ctx, ts.URL+"?topic=a&topic=b", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Publish 300 events across two topics while the server drops every
	// connection now and then: the client must see each exactly once, in
	// order.
	// The first event comes before any drop: a client with no event ID
	// has nothing to resume from.
	const total = 300
	first := publish(t, b, "a", Event{Data: "0"})
	if ev, err := s.Next(); err != nil || ev.ID != first {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	published := make(chan []string, 1)
	go func() {
		ids := []string{first}
		var opened uint64
		for i := 1; i < total; i++ {
			// Drop the connection, publish ten more events, then wait
			// for the client to come back before going on.
			switch i % 50 {
			case 25:
				opened = b.Stats().Opened
				dl.dropAll()
			case 35:
				for deadline := time.Now().Add(10 * time.Second); b.Stats().Opened == opened && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
			}
			topic := []string{"a", "b", "c"}[i%3]
			id, _ := b.Publish(topic, Event{Data: fmt.Sprint(i)})
			if topic != "c" { // c is not subscribed
				ids = append(ids, id)
			}
		}
		published <- ids
	}()
	got := []string{first}
	for len(got) < total*2/3 {
		ev, err := s.Next()
		if err != nil {
			t.Fatalf("Next after %d events: %v", len(got), err)
		}
		got = append(got, ev.ID)
	}
	ids := <-published
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("received IDs\n%v\nwant\n%v", got, ids)
	}
	if s.reconnected() < 6 {
		t.Errorf("the stream reconnected %d times, want 6", s.reconnected())
	}
	t.Logf("%d events over %d reconnects, %+v", len(got), s.reconnected(), b.Stats())
	b.Shutdown(context.Background())
}

func TestBrokerResumeExact(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{})
	ts, c := newServer(t, b, false)
	for _, how := range []string{"header", "query"} {
		t.Run(how, func(t *testing.T) {
			id1 := publish(t, b, how, Event{Data: "1"})
			publish(t, b, how, Event{Data: "2"})
			publish(t, b, "z", Event{Data: "other topic"})
			publish(t, b, how, Event{Data: "3"})
			u := ts.URL + "?topic=" + how
			var hdr []string
			if how == "header" {
				hdr = []string{"Last-Event-ID", id1}
			} else {
				u += "&lastEventId=" + url.QueryEscape(id1)
			}
			_, r := open(t, c, u, hdr...)
			for _, want := range []string{"2", "3"} {
				if ev := next(t, r); ev.Data != want {
					t.Fatalf("replayed %+v, want %s", ev, want)
				}
			}
			live := publish(t, b, how, Event{Data: "live"})
			if ev := next(t, r); ev.Data != "live" || ev.ID != live {
				t.Fatalf("live %+v, want live", ev)
			}
		})
	}
	b.Shutdown(context.Background())
}

func TestBrokerGap(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{HistorySize: 2})
	ts, c := newServer(t, b, false)
	var ids []string
	for i := range 5 {
		ids = append(ids, publish(t, b, "a", Event{Data: fmt.Sprint(i)}))
	}
	gapOf := func(ev Event) Gap {
		t.Helper()
		if ev.Type != GapEvent {
			t.Fatalf("got %+v, want a %q event", ev, GapEvent)
		}
		var g Gap
		if err := json.Unmarshal([]byte(ev.Data), &g); err != nil {
			t.Fatal(err)
		}
		return g
	}

	// History holds 3 and 4 only: resuming after 0 misses 1 and 2.
	_, r := open(t, c, ts.URL+"?topic=a", "Last-Event-ID", ids[0])
	if g := gapOf(next(t, r)); g != (Gap{LastEventID: ids[0], Reason: "history exceeded"}) {
		t.Errorf("gap %+v", g)
	}
	for _, want := range []string{"3", "4"} {
		if ev := next(t, r); ev.Data != want {
			t.Errorf("after gap got %+v, want %s", ev, want)
		}
	}

	// Another epoch (a restarted server): a gap, then all history.
	_, r = open(t, c, ts.URL+"?topic=a&lastEventId=old-7")
	if g := gapOf(next(t, r)); g.Reason != "unknown epoch" || g.LastEventID != "old-7" {
		t.Errorf("gap %+v", g)
	}
	if ev := next(t, r); ev.Data != "3" {
		t.Errorf("after gap got %+v, want 3", ev)
	}

	// A gap with nothing in history for the topic: the gap event carries
	// an ID to resume from, so a second reconnect is not a gap again.
	_, r = open(t, c, ts.URL+"?topic=empty&lastEventId=old-7")
	ev := next(t, r)
	if gapOf(ev); ev.ID != ids[4] {
		t.Errorf("gap event ID %q, want %q", ev.ID, ids[4])
	}
	_, r = open(t, c, ts.URL+"?topic=empty", "Last-Event-ID", ev.ID)
	publish(t, b, "empty", Event{Data: "fresh"})
	if ev := next(t, r); ev.Type != "message" || ev.Data != "fresh" {
		t.Errorf("resume after the gap's ID got %+v, want the fresh event and no gap", ev)
	}
	if s := b.Stats(); s.Gaps != 3 {
		t.Errorf("Stats.Gaps = %d, want 3", s.Gaps)
	}
	b.Shutdown(context.Background())
}

func TestBrokerRefusals(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{MaxClients: 1, MaxTopics: 2, retryAfter: 1500 * time.Millisecond})
	ts, c := newServer(t, b, false)
	check := func(method, path string, code int, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != code || !strings.Contains(string(got), body) {
			t.Errorf("%s %s: %d %q, want %d with %q", method, path, resp.StatusCode, got, code, body)
		}
		return resp
	}
	if resp := check("POST", "/?topic=a", 405, "not allowed"); resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("405 without Allow: %v", resp.Header)
	}
	check("GET", "/", 400, "no topic")
	check("GET", "/?topic=", 400, "invalid topic")
	check("GET", "/?topic=a%01", 400, "control character")
	check("GET", "/?topic="+strings.Repeat("x", 300), 400, "longer than")
	check("GET", "/?topic=a&topic=b&topic=c", 400, "too many topics")
	if resp := check("HEAD", "/?topic=a", 200, ""); resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD Content-Type %q", resp.Header.Get("Content-Type"))
	}

	open(t, c, ts.URL+"?topic=a")
	if resp := check("GET", "/?topic=a", 503, "too many"); resp.Header.Get("Retry-After") != "2" {
		t.Errorf("503 Retry-After %q, want 2", resp.Header.Get("Retry-After"))
	}
	b.Shutdown(context.Background())
	check("GET", "/?topic=a", 503, "shutting down")
	if s := b.Stats(); s.Refused != 2 || s.Rejected != 6 {
		t.Errorf("Stats = %+v, want 2 refused, 6 rejected", s)
	}
	if _, err := b.Publish("a", Event{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Shutdown: %v, want ErrClosed", err)
	}
}

func TestBrokerTopicsHook(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{Topics: func(r *http.Request) ([]string, error) {
		switch r.Header.Get("Authorization") {
		case "":
			return nil, &StatusError{Code: 401, Err: errors.New("log in first"),
				Header: http.Header{"Www-Authenticate": {"Bearer"}}}
		case "Bearer bad":
			return nil, &StatusError{Code: 403}
		case "Bearer odd":
			return nil, errors.New("odd request")
		}
		return []string{"user-1"}, nil
	}})
	ts, c := newServer(t, b, false)
	for _, tt := range []struct {
		auth string
		code int
		body string
	}{{"", 401, "log in first"}, {"Bearer bad", 403, "Forbidden"}, {"Bearer odd", 400, "odd request"}} {
		req, _ := http.NewRequest("GET", ts.URL, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.body) {
			t.Errorf("auth %q: %d %q, want %d %q", tt.auth, resp.StatusCode, body, tt.code, tt.body)
		}
		if tt.code == 401 && resp.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
	_, r := open(t, c, ts.URL, "Authorization", "Bearer good")
	publish(t, b, "user-1", Event{Data: "hi"})
	if ev := next(t, r); ev.Data != "hi" {
		t.Errorf("got %+v", ev)
	}
	b.Shutdown(context.Background())
}

func TestBrokerPublishErrors(t *testing.T) {
	b := NewBroker(BrokerOptions{})
	defer b.Shutdown(context.Background())
	for _, tt := range []struct {
		topic string
		ev    Event
		want  error
	}{
		{"", Event{}, errInvalidTopic},
		{"a\n", Event{}, errInvalidTopic},
		{"a", Event{Type: "x\ny"}, errInvalidType},
		{"a", Event{Data: "\xff"}, errInvalidData},
		{"a", Event{Retry: -1}, errInvalidRetry},
	} {
		if _, err := b.Publish(tt.topic, tt.ev); !errors.Is(err, tt.want) {
			t.Errorf("Publish(%q, %+v) = %v, want %v", tt.topic, tt.ev, err, tt.want)
		}
	}
	if s := b.Stats(); s.Published != 0 {
		t.Errorf("Published = %d after refused publishes", s.Published)
	}
}

// TestBrokerSlowClient checks that a client that never reads does not slow
// the others, and is disconnected by the write deadline.
func TestBrokerSlowClient(t *testing.T) {
	for _, mode := range modes[:2] {
		t.Run(mode, func(t *testing.T) { testSlowClient(t, mode) })
	}
}

func testSlowClient(t *testing.T, mode string) {
	leakcheck.Check(t)
	// The fast readers' writes have the same deadline: long enough that
	// one waiting for the CPU on a loaded machine is not cut.
	b := NewBroker(modeOptions(mode, BrokerOptions{WriteTimeout: time.Second}))
	ts, c := newModeServer(t, b, mode)
	payload := strings.Repeat("x", 32<<10)

	// run publishes events one at a time, each once every reader has it,
	// until stop says so, and returns how many it published and the rate.
	run := func(readers int, stop func(n int) bool) (int, float64) {
		var rs []*Reader
		for range readers {
			resp, r := open(t, c, ts.URL+"?topic=a")
			defer resp.Body.Close()
			rs = append(rs, r)
		}
		start := time.Now()
		n := 0
		for ; !stop(n); n++ {
			id := publish(t, b, "a", Event{Data: payload})
			for _, r := range rs {
				if ev := next(t, r); ev.ID != id {
					t.Fatalf("reader got %q, want %q", ev.ID, id)
				}
			}
		}
		return n, float64(n) / time.Since(start).Seconds()
	}

	_, alone := run(3, func(n int) bool { return n == 200 })
	waitfor.Cond(t, "the first readers' streams to close", waitTimeout, func() bool { return b.Stats().Clients == 0 })
	failed := b.Stats().WriteFailed

	conn, _ := rawStream(t, ts.Listener.Addr().String(), "/?topic=a")
	defer conn.Close()
	// Publish until the stalled stream is gone (4 streams with it), then
	// check it ended on a failed write: waiting for the count alone would
	// never end if it closed some other way.
	n, withSlow := run(3, func(int) bool { return b.Stats().Clients < 4 })
	var cut Stats
	waitfor.Cond(t, "the stalled stream's end to count as a failed write", waitTimeout, func() bool {
		cut = b.Stats()
		return cut.WriteFailed > failed
	})
	t.Logf("fast readers: %.0f events/s alone, %.0f events/s next to a stalled client; "+
		"the stalled one was cut after %d events (%d KiB)", alone, withSlow, n, n*len(payload)>>10)
	if cut.WriteFailed != failed+1 {
		t.Errorf("when the stalled stream was cut: %+v, want exactly one more failed write", cut)
	}
	b.Shutdown(context.Background())
}

// TestBrokerLaggingStreamGetsGap: a stream that stops reading while more
// than HistoryBytes are published is not ended for it, holds nothing of its
// own meanwhile, and once it reads again gets a gap event ("too slow")
// followed by the newest events; a fast stream misses nothing.
func TestBrokerLaggingStreamGetsGap(t *testing.T) {
	leakcheck.Check(t)
	const historyBytes = 256 << 10
	b := NewBroker(BrokerOptions{HistoryBytes: historyBytes, WriteTimeout: time.Minute, Heartbeat: -1})
	ts, c := newServer(t, b, false)
	c.Timeout = connTimeout
	_, fast := open(t, c, ts.URL+"?topic=a")
	conn, br := rawStream(t, ts.Listener.Addr().String(), "/?topic=a")
	defer conn.Close()
	waitfor.Cond(t, "streams", waitTimeout, func() bool { return b.Stats().Clients == 2 })

	payload := strings.Repeat("y", 64<<10)
	const events = 256 // 16 MiB: more than the socket buffers and the history
	var last string
	for range events {
		last = publish(t, b, "a", Event{Data: payload})
		next(t, fast)
	}
	slow := NewReader(br)
	ev, err := slow.Next()
	for err == nil && ev.Type != GapEvent {
		ev, err = slow.Next()
	}
	if err != nil {
		t.Fatalf("lagging stream: %v before a gap event", err)
	}
	var g Gap
	if err := json.Unmarshal([]byte(ev.Data), &g); err != nil || g.Reason != "too slow" {
		t.Fatalf("gap event %q (%v), want reason \"too slow\"", ev.Data, err)
	}
	for err == nil && ev.ID != last {
		ev, err = slow.Next()
	}
	if err != nil {
		t.Fatalf("after the gap the stream did not reach the last event: %v", err)
	}
	if s := b.Stats(); s.Clients != 2 || s.Gaps == 0 || s.WriteFailed != 0 {
		t.Errorf("Stats = %+v, want both streams open and the slow one lagged", s)
	}
	b.Shutdown(context.Background())
}

func TestBrokerConnectDisconnect(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { testConnectDisconnect(t, mode) })
	}
}

func testConnectDisconnect(t *testing.T, mode string) {
	leakcheck.Check(t)
	b := NewBroker(modeOptions(mode, BrokerOptions{}))
	ts, c := newModeServer(t, b, mode)
	const cycles, workers = 1000, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range cycles / workers {
				resp, err := c.Get(ts.URL + "?topic=t" + fmt.Sprint(w))
				if err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					// Half of them read their first event.
					id, _ := b.Publish("t"+fmt.Sprint(w), Event{Data: "x"})
					if ev, err := NewReader(resp.Body).Next(); err != nil || ev.ID != id {
						errs <- fmt.Errorf("cycle %d: %+v, %v", i, ev, err)
					}
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitfor.Cond(t, "every stream to close", waitTimeout, func() bool { return b.Stats().Clients == 0 })
	if s := b.Stats(); s.Opened != cycles {
		t.Errorf("Opened = %d, want %d", s.Opened, cycles)
	}
	b.Shutdown(context.Background())
}

func TestBrokerShutdownManyStreams(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { testShutdownManyStreams(t, mode) })
	}
}

func testShutdownManyStreams(t *testing.T, mode string) {
	leakcheck.Check(t)
	b := NewBroker(modeOptions(mode, BrokerOptions{}))
	ts, c := newModeServer(t, b, mode)
	if tr, ok := c.Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = 1000
	}
	const streams = 1000
	ends := make(chan error, streams)
	for i := range streams {
		resp, err := c.Get(ts.URL + "?topic=t" + fmt.Sprint(i%10))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer resp.Body.Close()
			r := NewReader(resp.Body)
			var err error
			n := 0
			for err == nil {
				if _, err = r.Next(); err == nil {
					n++
				}
			}
			if err == io.EOF && n != 1 {
				err = fmt.Errorf("%d events before the end, want 1", n)
			}
			ends <- err
		}()
	}
	waitfor.Cond(t, "every stream to open", waitTimeout, func() bool { return b.Stats().Clients == streams })
	for i := range 10 {
		publish(t, b, "t"+fmt.Sprint(i), Event{Data: "last words"})
	}
	// The context only catches a hang: a loaded machine can take seconds
	// to end 1,000 streams cleanly.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	start := time.Now()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with %d streams: %v", streams, err)
	}
	t.Logf("Shutdown of %d streams took %v", streams, time.Since(start))
	for range streams {
		if err := <-ends; err != io.EOF {
			t.Fatalf("a stream ended with %v, want a clean end after its queued event", err)
		}
	}
}

// unwrapper is middleware's ResponseWriter that hides the writer's other
// methods but offers Unwrap.
type unwrapper struct{ w http.ResponseWriter }

func (u unwrapper) Header() http.Header         { return u.w.Header() }
func (u unwrapper) Write(p []byte) (int, error) { return u.w.Write(p) }
func (u unwrapper) WriteHeader(code int)        { u.w.WriteHeader(code) }
func (u unwrapper) Unwrap() http.ResponseWriter { return u.w }

// hider hides the writer's methods and has no Unwrap.
type hider struct{ w http.ResponseWriter }

func (h hider) Header() http.Header         { return h.w.Header() }
func (h hider) Write(p []byte) (int, error) { return h.w.Write(p) }
func (h hider) WriteHeader(code int)        { h.w.WriteHeader(code) }

func TestBrokerBehindMiddleware(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{})
	mw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.ServeHTTP(unwrapper{w}, r) })
	ts, c := newServer(t, mw, false)
	_, r := open(t, c, ts.URL+"?topic=a")
	publish(t, b, "a", Event{Data: "through middleware"})
	if ev := next(t, r); ev.Data != "through middleware" {
		t.Errorf("got %+v", ev)
	}
	b.Shutdown(context.Background())
}

func TestBrokerKeepsMiddlewareHeaders(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			leakcheck.Check(t)
			b := NewBroker(modeOptions(mode, BrokerOptions{}))
			cors := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Access-Control-Allow-Origin", "https://example.com")
				w.Header().Set("X-Evil", "a\r\nInjected: yes") // net/http's rules apply: no header splitting
				b.ServeHTTP(w, r)
			})
			ts, c := newModeServer(t, cors, mode)
			resp, r := open(t, c, ts.URL+"?topic=a")
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://example.com" {
				t.Errorf("Access-Control-Allow-Origin = %q", got)
			}
			if resp.Header.Get("Injected") != "" {
				t.Errorf("a header value split into a header of its own: %v", resp.Header)
			}
			publish(t, b, "a", Event{Data: "x"})
			if ev := next(t, r); ev.Data != "x" {
				t.Errorf("got %+v", ev)
			}
			b.Shutdown(context.Background())
		})
	}
}
