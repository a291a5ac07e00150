package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/realtime-go/realtime/internal/waitfor"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// hubServer serves a Hub on 127.0.0.1 and can stop it and serve another
// on the same port, as a restart does.
type hubServer struct {
	t      *testing.T
	opts   HubOptions
	refuse atomic.Bool  // new connections get 503 while set
	conns  chan *Member // each connection as it opens
	mu     sync.Mutex
	hub    *Hub
	srv    *http.Server
	addr   string
	done   chan struct{}
}

func startHubServer(t *testing.T, opts HubOptions) *hubServer {
	s := &hubServer{t: t, opts: opts, conns: make(chan *Member, 64), addr: "127.0.0.1:0"}
	s.opts.Topics = func(r *http.Request) ([]string, error) {
		if s.refuse.Load() {
			return nil, &StatusError{Code: http.StatusServiceUnavailable}
		}
		return r.URL.Query()["topic"], nil
	}
	onConnect := opts.OnConnect
	s.opts.OnConnect = func(c *Member, r *http.Request) {
		if onConnect != nil {
			onConnect(c, r)
		}
		s.conns <- c
	}
	s.start(nil)
	t.Cleanup(func() {
		s.mu.Lock()
		running := s.srv != nil
		s.mu.Unlock()
		if running {
			s.stop()
		}
	})
	return s
}

func (s *hubServer) start(saved []byte) {
	h := NewHub(s.opts)
	if saved != nil {
		if err := h.LoadHistory(bytes.NewReader(saved)); err != nil {
			s.t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	s.mu.Lock()
	s.hub, s.srv, s.addr, s.done = h, srv, ln.Addr().String(), done
	s.mu.Unlock()
}

// stop closes the listener and shuts the Hub down, and returns its history.
func (s *hubServer) stop() []byte {
	s.mu.Lock()
	h, srv, done := s.hub, s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	srv.Shutdown(ctx)
	<-done
	if err := h.Shutdown(ctx); err != nil {
		s.t.Errorf("hub shutdown: %v", err)
	}
	var saved bytes.Buffer
	h.SaveHistory(&saved)
	return saved.Bytes()
}

func (s *hubServer) url() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "ws://" + s.addr + "/"
}

func (s *hubServer) publish(topic, text string) string {
	s.t.Helper()
	s.mu.Lock()
	h := s.hub
	s.mu.Unlock()
	id, err := h.Publish(topic, MessageText, []byte(text))
	if err != nil {
		s.t.Error(err) // not Fatal: it may run on a goroutine of its own
	}
	return id
}

func (s *hubServer) conn() *Member {
	s.t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(waitTimeout):
		s.t.Fatal("timed out waiting for a connection")
		return nil
	}
}

// next reads the next message of the Subscriber, failing on error.
func next(t *testing.T, ctx context.Context, sub *Subscriber) Message {
	t.Helper()
	m, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// text decodes the data of a text hub message published with Publish.
func text(t *testing.T, m Message) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(m.Data, &s); err != nil {
		t.Fatalf("data %q: %v", m.Data, err)
	}
	return s
}

// TestSubscriberResume: the Subscriber reconnects after its connection
// drops and resumes after the last hub message: what was published while
// it was away comes once, in order. Direct messages, even JSON that looks
// like a hub message, do not move its resume point. Away longer than the
// history holds, it returns the gap notice, then what is left, and
// resumes from the gap's ID.
func TestSubscriberResume(t *testing.T) {
	leakcheck.Check(t)
	s := startHubServer(t, HubOptions{Epoch: "ep", HistorySize: 3, OnConnect: func(c *Member, r *http.Request) {
		c.SendJSON(map[string]string{"id": "x-1", "topic": "news", "data": "direct"})
	}})
	ctx := dialCtx(t)
	var retries atomic.Int32
	sub, err := Subscribe(ctx, s.url(), &SubscribeOptions{Topics: []string{"news"}, Retry: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond,
		OnRetry: func(int, time.Duration, error) { retries.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	first := s.conn()
	if m := next(t, ctx, sub); kindOf(m) != kindDirect || m.ID != "" || !strings.Contains(string(m.Data), `"id":"x-1"`) {
		t.Fatalf("direct JSON: %+v", m)
	}
	s.publish("news", "one")
	if m := next(t, ctx, sub); kindOf(m) != kindMessage || m.ID != "ep-1" || m.Topic != "news" || text(t, m) != "one" {
		t.Fatalf("hub message: %+v", m)
	}

	// Dropped: two messages published while away come once, in order.
	s.refuse.Store(true)
	first.Conn().CloseNow()
	s.publish("news", "two")
	s.publish("news", "three")
	s.refuse.Store(false)
	for _, want := range []string{"two", "three"} {
		if m := next(t, ctx, sub); kindOf(m) != kindMessage || text(t, m) != want {
			t.Fatalf("after reconnecting: %+v, want %s", m, want)
		}
	}
	if m := next(t, ctx, sub); kindOf(m) != kindDirect {
		t.Fatalf("after reconnecting: %+v, want the direct greeting", m)
	}
	second := s.conn()
	if sub.LastEventID() != "ep-3" || sub.reconnected() < 1 || retries.Load() < 1 {
		t.Fatalf("LastEventID %s, reconnects %d, retries %d", sub.LastEventID(), sub.reconnected(), retries.Load())
	}

	// Away longer than the history holds.
	s.refuse.Store(true)
	second.Conn().CloseNow()
	for i := range 5 {
		s.publish("news", fmt.Sprint("later ", i))
	}
	s.refuse.Store(false)
	m := next(t, ctx, sub)
	if kindOf(m) != kindGap || m.Gap.Reason != "history exceeded" || m.Gap.LastEventID != "ep-3" || m.Gap.ID != "ep-5" {
		t.Fatalf("want a gap notice, got %+v (%+v)", m, m.Gap)
	}
	if sub.LastEventID() != "ep-5" {
		t.Fatalf("LastEventID %s after the gap, want ep-5", sub.LastEventID())
	}
	for i := 2; i < 5; i++ {
		if m := next(t, ctx, sub); kindOf(m) != kindMessage || text(t, m) != fmt.Sprint("later ", i) {
			t.Fatalf("after the gap: %+v", m)
		}
	}
	if m := next(t, ctx, sub); kindOf(m) != kindDirect || sub.LastEventID() != "ep-8" {
		t.Fatalf("after the replay: %+v, LastEventID %s", m, sub.LastEventID())
	}
}

// TestSubscriberRestart: the server restarts on the same port with its
// saved history, and publishes before the Subscriber is back: every
// message comes once, in order, with no gap.
func TestSubscriberRestart(t *testing.T) {
	leakcheck.Check(t)
	s := startHubServer(t, HubOptions{Epoch: "ep"})
	ctx := dialCtx(t)
	sub, err := Subscribe(ctx, s.url(), &SubscribeOptions{Topics: []string{"news"}, Retry: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	s.conn()
	var want, got []string
	for i := range 3 {
		want = append(want, s.publish("news", fmt.Sprint("before ", i)))
	}
	for range 3 {
		got = append(got, next(t, ctx, sub).ID)
	}
	s.refuse.Store(true)
	// The server restarts while Next waits, so the Subscriber answers the
	// old server's close at once (Shutdown does not wait for its close
	// timeout) and retries while the new server refuses.
	const afterRestart = 4
	away := make(chan []string, 1)
	go func() {
		var ids []string
		defer func() { away <- ids }()
		s.start(s.stop())
		for i := range 3 {
			ids = append(ids, s.publish("news", fmt.Sprint("away ", i)))
		}
		s.refuse.Store(false)
		ids = append(ids, s.publish("news", "after"))
	}()
	for range afterRestart {
		m := next(t, ctx, sub)
		if kindOf(m) != kindMessage {
			t.Fatalf("across the restart: %+v", m)
		}
		got = append(got, m.ID)
	}
	want = append(want, <-away...)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestSubscriberJoinLeave: Join and Leave reconnect with the new topics at
// once and resume, so a message not yet read when the topics change is not
// lost, and none comes twice.
func TestSubscriberJoinLeave(t *testing.T) {
	leakcheck.Check(t)
	s := startHubServer(t, HubOptions{Epoch: "ep"})
	ctx := dialCtx(t)
	var retries atomic.Int32
	sub, err := Subscribe(ctx, s.url(), &SubscribeOptions{Topics: []string{"news"}, OnRetry: func(int, time.Duration, error) { retries.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	s.conn()
	s.publish("news", "n1")
	next(t, ctx, sub)

	s.publish("news", "n2") // not read before the topics change
	if err := sub.Join("sport"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.conn().Topics(), ","); got != "news,sport" {
		t.Fatalf("topics after Join: %s", got)
	}
	s.publish("sport", "s1")
	s.publish("sport", "s2")
	for _, want := range []string{"n2", "s1"} {
		if m := next(t, ctx, sub); text(t, m) != want {
			t.Fatalf("after Join: %+v, want %s", m, want)
		}
	}
	if err := sub.Leave("news"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.conn().Topics(), ","); got != "sport" {
		t.Fatalf("topics after Leave: %s", got)
	}
	s.publish("news", "n3")
	s.publish("sport", "s3")
	var texts []string
	for len(texts) < 2 {
		texts = append(texts, text(t, next(t, ctx, sub)))
	}
	if strings.Join(texts, ",") != "s2,s3" {
		t.Fatalf("after Leave: %q, want s2,s3", texts)
	}
	if retries.Load() != 0 {
		t.Fatalf("%d backoff waits: Join and Leave reconnect at once", retries.Load())
	}
	if got := strings.Join(sub.following(), ","); got != "sport" {
		t.Fatalf("Topics() = %s", got)
	}
}

// TestSubscriberBackoff: while the Hub refuses it, each wait is drawn from
// the upper half of Retry doubled per attempt, up to MaxRetryDelay; a
// connection that opens and closes with no message does not start the
// backoff over. Close ends Next.
func TestSubscriberBackoff(t *testing.T) {
	leakcheck.Check(t)
	s := startHubServer(t, HubOptions{Epoch: "ep"})
	ctx := dialCtx(t)
	const refused = 6
	var mu sync.Mutex
	var delays []time.Duration
	sub, err := Subscribe(ctx, s.url(), &SubscribeOptions{Retry: 4 * time.Millisecond, MaxRetryDelay: 40 * time.Millisecond,
		OnRetry: func(n int, d time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			delays = append(delays, d)
			if len(delays) == refused+1 {
				s.refuse.Store(false)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	first := s.conn()
	s.refuse.Store(true)
	first.Conn().CloseNow()
	s.publish("t", "x") // no topic: nothing arrives, the reads wait
	errc := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx)
		errc <- err
	}()
	second := s.conn()
	mu.Lock()
	for i, d := range delays {
		ceiling := min(4*time.Millisecond<<i, 40*time.Millisecond)
		if d < ceiling/2 || d > ceiling {
			t.Errorf("wait %d: %v, want within [%v, %v]", i+1, d, ceiling/2, ceiling)
		}
	}
	mu.Unlock()
	second.Conn().CloseNow()
	waitfor.Cond(t, "the next wait", waitTimeout, func() bool { mu.Lock(); defer mu.Unlock(); return len(delays) == refused+2 })
	mu.Lock()
	if d := delays[len(delays)-1]; d < 20*time.Millisecond {
		t.Errorf("wait after a connection that delivered nothing: %v, want the backoff to go on (at least 20ms)", d)
	}
	mu.Unlock()
	s.conn()
	sub.Close()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after Close: %v", err)
	}
}
