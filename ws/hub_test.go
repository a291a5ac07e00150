package ws

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
)

// envelope is a published message as a client decodes it.
type envelope struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	Topic       string          `json:"topic"`
	Data        json.RawMessage `json:"data"`
	LastEventID string          `json:"lastEventId"`
	Reason      string          `json:"reason"`
	Binary      []byte          `json:"-"`
}

func readEnvelope(t testing.TB, c *wstest.Conn) envelope {
	t.Helper()
	op, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading envelope: %v", err)
	}
	return decodeEnvelope(t, op, data)
}

func decodeEnvelope(t testing.TB, op byte, data []byte) envelope {
	t.Helper()
	var e envelope
	if op == wstest.OpBinary {
		n := int(binary.BigEndian.Uint16(data))
		if err := json.Unmarshal(data[2:2+n], &e); err != nil {
			t.Fatalf("binary envelope header %q: %v", data[2:2+n], err)
		}
		e.Binary = data[2+n:]
		return e
	}
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("envelope %q: %v", data, err)
	}
	return e
}

func serveHub(t testing.TB, opts HubOptions) (*Hub, *httptest.Server) {
	h := NewHub(opts)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Shutdown(context.Background())
		srv.Close()
	})
	return h, srv
}

func TestHubPublish(t *testing.T) {
	h, srv := serveHub(t, HubOptions{Epoch: "ep"})
	news := dial(t, srv.URL+"?topic=news", nil)
	other := dial(t, srv.URL+"?topic=sport", nil)

	if _, err := h.Publish("news", MessageText, []byte("line\n\"quoted\" \u2028")); err != nil {
		t.Fatal(err)
	}
	id, err := h.PublishJSON("news", map[string]int{"n": 1})
	if err != nil || id != "ep-2" {
		t.Fatalf("PublishJSON: %q %v", id, err)
	}
	h.Publish("news", MessageBinary, []byte{0, 1, 2})
	h.Publish("sport", MessageText, []byte("goal"))

	e := readEnvelope(t, news)
	var s string
	json.Unmarshal(e.Data, &s)
	if e.ID != "ep-1" || e.Topic != "news" || s != "line\n\"quoted\" \u2028" {
		t.Fatalf("text envelope %+v (%q)", e, s)
	}
	e = readEnvelope(t, news)
	if e.ID != "ep-2" || string(e.Data) != `{"n":1}` {
		t.Fatalf("JSON envelope %+v", e)
	}
	e = readEnvelope(t, news)
	if e.ID != "ep-3" || e.Topic != "news" || string(e.Binary) != "\x00\x01\x02" {
		t.Fatalf("binary envelope %+v", e)
	}
	if e := readEnvelope(t, other); e.ID != "ep-4" {
		t.Fatalf("other topic got %+v, want only ep-4", e)
	}
	if _, err := h.Publish("news", MessageText, []byte{0xff}); !errors.Is(err, errInvalidUTF8) {
		t.Fatalf("publishing invalid UTF-8: %v", err)
	}
	if _, err := h.Publish("", MessageText, nil); err == nil {
		t.Fatal("publishing to an empty topic worked")
	}
	if _, err := h.Publish("\xff", MessageText, nil); !errors.Is(err, errInvalidTopic) {
		t.Fatalf("publishing to a topic that is not UTF-8: %v", err)
	}
	if _, err := h.PublishJSON("\xff", 1); !errors.Is(err, errInvalidTopic) {
		t.Fatalf("PublishJSON to a topic that is not UTF-8: %v", err)
	}
}

func TestHubResume(t *testing.T) {
	h, srv := serveHub(t, HubOptions{Epoch: "ep", HistorySize: 3})
	for i := range 5 {
		h.Publish("t", MessageText, fmt.Appendf(nil, "m%d", i+1))
	}
	// Within the history: ep-3 has ep-4 and ep-5 after it.
	c := dial(t, srv.URL+"?topic=t&lastEventId=ep-3", nil)
	for _, want := range []string{"ep-4", "ep-5"} {
		if e := readEnvelope(t, c); e.ID != want {
			t.Fatalf("replay got %+v, want %s", e, want)
		}
	}
	h.Publish("t", MessageText, []byte("live"))
	if e := readEnvelope(t, c); e.ID != "ep-6" {
		t.Fatalf("live got %+v", e)
	}

	// Beyond the history (ep-4, ep-5, ep-6 kept): a gap, then what is kept.
	c = dial(t, srv.URL+"?topic=t", http.Header{"Last-Event-Id": {"ep-1"}})
	if e := readEnvelope(t, c); e.Type != "gap" || e.Reason != "history exceeded" || e.LastEventID != "ep-1" || e.ID != "ep-3" {
		t.Fatalf("got %+v, want a gap notice resuming at ep-3", e)
	}
	for _, want := range []string{"ep-4", "ep-5", "ep-6"} {
		if e := readEnvelope(t, c); e.ID != want {
			t.Fatalf("replay after gap got %+v, want %s", e, want)
		}
	}

	// Another epoch: a gap.
	c = dial(t, srv.URL+"?topic=t&lastEventId="+url.QueryEscape(`"old\-9`), nil)
	if e := readEnvelope(t, c); e.Type != "gap" || e.Reason != "unknown epoch" || e.LastEventID != `"old\-9` {
		t.Fatalf("got %+v, want a gap for an unknown epoch", e)
	}
	if s := h.Stats(); s.Gaps != 2 || s.Replayed != 2+3+3 || s.Published != 6 {
		t.Fatalf("stats %+v", s)
	}
}

// TestHubResumeWithoutTopics: a connection that follows no topic resumes
// nothing, so it gets no gap notice for an ID the hub cannot place; what
// it joins later comes from the next message.
func TestHubResumeWithoutTopics(t *testing.T) {
	conns := make(chan *Member, 1)
	h, srv := serveHub(t, HubOptions{Epoch: "ep", OnConnect: func(c *Member, _ *http.Request) { conns <- c }})
	c := dial(t, srv.URL+"?lastEventId=old-9", nil)
	h.Publish("t", MessageText, []byte("not followed"))
	if err := (<-conns).Send(MessageText, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := c.ReadMessage(); err != nil || string(data) != "first" {
		t.Fatalf("got %q (%v) first, want the direct message: no gap notice", data, err)
	}
}

// TestHubResumeHeaderFirst checks that a Last-Event-ID header wins over
// the lastEventId query parameter, as in package sse.
func TestHubResumeHeaderFirst(t *testing.T) {
	h, srv := serveHub(t, HubOptions{Epoch: "ep"})
	for i := range 3 {
		h.Publish("t", MessageText, fmt.Appendf(nil, "m%d", i+1))
	}
	c := dial(t, srv.URL+"?topic=t&lastEventId=ep-2", http.Header{"Last-Event-Id": {"ep-1"}})
	for _, want := range []string{"ep-2", "ep-3"} {
		if e := readEnvelope(t, c); e.ID != want {
			t.Fatalf("replay got %+v, want %s: the header first", e, want)
		}
	}
}

func TestHubRefusals(t *testing.T) {
	_, srv := serveHub(t, HubOptions{
		MaxTopics: 2,
		Topics: func(r *http.Request) ([]string, error) {
			switch r.URL.Query().Get("user") {
			case "":
				return nil, &StatusError{Code: http.StatusUnauthorized, Err: errors.New("who are you"),
					Header: http.Header{"Www-Authenticate": {`Bearer realm="chat"`}}}
			case "banned":
				return nil, errors.New("banned")
			}
			return r.URL.Query()["topic"], nil
		},
	})
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"?topic=a", 401},
		{"?user=banned&topic=a", 400}, // a plain error from the hook, as in package sse
		{"?user=ann&topic=a&topic=b&topic=c", 400},
		{"?user=ann&topic=" + url.QueryEscape("bad\x01"), 400},
		{"?user=ann&topic=a", 101},
	} {
		c, resp, err := wstest.Dial(srv.URL+tc.query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c != nil {
			c.Close()
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.query, resp.StatusCode, tc.want)
		}
		if tc.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: the StatusError's header was not sent", tc.query)
		}
	}
}

func TestHubMaxConns(t *testing.T) {
	h, srv := serveHub(t, HubOptions{MaxClients: 2})
	dial(t, srv.URL, nil)
	dial(t, srv.URL, nil)
	_, resp, err := wstest.Dial(srv.URL, nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v %v, want 503", resp, err)
	}
	waitfor.Cond(t, "two connections accepted", waitTimeout, func() bool { return h.Stats().Opened == 2 })
	if s := h.Stats(); s.Clients != 2 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestHubMessages: OnMessage gets what clients send and can answer, join
// and leave topics.
func TestHubMessages(t *testing.T) {
	var h *Hub
	connected := make(chan *Member, 1)
	h, srv := serveHub(t, HubOptions{
		Epoch:     "ep",
		OnConnect: func(c *Member, r *http.Request) { connected <- c },
		OnMessage: func(c *Member, typ MessageType, data []byte) {
			var cmd struct{ Join, Leave, Say string }
			if err := json.Unmarshal(data, &cmd); err != nil {
				c.Conn().Close(statusUnsupportedData, "not JSON")
				return
			}
			switch {
			case cmd.Join != "":
				c.Join(cmd.Join)
				c.Send(MessageText, []byte("joined "+cmd.Join))
			case cmd.Leave != "":
				c.Leave(cmd.Leave)
				c.Send(MessageText, []byte("left "+cmd.Leave))
			case cmd.Say != "":
				h.Publish("room", MessageText, []byte(cmd.Say))
			}
		},
	})
	c := dial(t, srv.URL, nil)
	conn := <-connected
	if len(conn.Topics()) != 0 {
		t.Fatalf("topics %v", conn.Topics())
	}
	send(t, c, wstest.OpText, `{"join":"room"}`)
	if _, data, _ := c.ReadMessage(); string(data) != "joined room" {
		t.Fatalf("got %q", data)
	}
	send(t, c, wstest.OpText, `{"say":"hi"}`)
	if e := readEnvelope(t, c); e.Topic != "room" || string(e.Data) != `"hi"` {
		t.Fatalf("got %+v", e)
	}
	send(t, c, wstest.OpText, `{"leave":"room"}`)
	if _, data, _ := c.ReadMessage(); string(data) != "left room" {
		t.Fatalf("got %q", data)
	}
	h.Publish("room", MessageText, []byte("unheard"))
	send(t, c, wstest.OpText, `not json`)
	if cf := readClose(t, c); cf.Code != int(statusUnsupportedData) {
		t.Fatalf("close %d", cf.Code)
	}
	if s := h.Stats(); s.Received != 4 {
		t.Fatalf("received %d, want 4", s.Received)
	}
}

func TestHubShutdown(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	h := NewHub(HubOptions{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var clients []*wstest.Conn
	for range 10 {
		clients = append(clients, dial(t, srv.URL+"?topic=a", nil))
	}
	h.Publish("a", MessageText, []byte("before"))
	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(context.Background()) }()
	for _, c := range clients {
		if e := readEnvelope(t, c); string(e.Data) != `"before"` {
			t.Fatalf("got %+v", e)
		}
		if cf := readClose(t, c); cf.Code != int(StatusGoingAway) || cf.Reason == "" {
			t.Fatalf("close %d %q, want 1001 with a reason", cf.Code, cf.Reason)
		}
		c.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(1001, "")))
		if err := c.ExpectEOF(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	_, resp, _ := wstest.Dial(srv.URL, nil)
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Shutdown: %v, want 503", resp)
	}
	if _, err := h.Publish("a", MessageText, nil); err == nil {
		t.Fatal("Publish after Shutdown worked")
	}
	srv.Close()
}

// TestHubShutdownDeadline: peers that do not answer the close frame are cut
// when Shutdown's context ends, and Shutdown returns then, without waiting
// for the connections' goroutines, which end by themselves.
func TestHubShutdownDeadline(t *testing.T) {
	leakcheck.Check(t)
	h := NewHub(HubOptions{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	dial(t, srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	waitfor.Cond(t, "the cut connections to end", waitTimeout, func() bool { return h.Stats().Clients == 0 })
}

// TestHubSlowConsumer: a peer that never reads is dropped while the
// others (100, or 1,000 in the long run) get every message.
func TestHubSlowConsumer(t *testing.T) {
	const messages = 200
	// The write timeout is generous: on a loaded machine a healthy
	// reader's writer can wait its turn for the CPU longer than a short
	// deadline, and be taken for slow; the more readers, the longer the
	// wait. The long run has 1,000 readers.
	readers, writeTimeout := 100, 5*time.Second
	if testutil.LongEnabled() {
		readers, writeTimeout = 1000, waitTimeout
	}
	leakcheck.CheckWithin(t, waitTimeout+writeTimeout)
	// The readers stop reading once they have every message, so they
	// answer no ping while the slow peer is being dropped, which on a
	// loaded machine can take longer than a PingInterval: keep-alive is
	// not what this tests.
	h := NewHub(HubOptions{
		Conn:        AcceptOptions{WriteTimeout: writeTimeout, PingInterval: time.Hour},
		HistorySize: -1,
	})
	srv := httptest.NewServer(h)

	slow, resp, err := wstest.Dial(srv.URL+"?topic=all&topic=flood", nil)
	if err != nil || slow == nil {
		t.Fatal(err, resp)
	}
	defer slow.Close()

	got := make([]int, readers)
	var wg sync.WaitGroup
	conns := make([]*wstest.Conn, readers)
	for i := range readers {
		conns[i] = dial(t, srv.URL+"?topic=all", nil)
	}
	for _, c := range conns {
		// Dialing 1,000 took part of each one's deadline: bound the
		// reading itself, generously for a loaded machine.
		c.SetDeadline(time.Now().Add(3 * waitTimeout))
	}
	for i, c := range conns {
		wg.Go(func() {
			for got[i] < messages {
				op, data, err := c.ReadMessage()
				if err != nil {
					t.Errorf("reader %d after %d messages: %v", i, got[i], err)
					return
				}
				e := decodeEnvelope(t, op, data)
				if want := fmt.Sprintf(`"%d"`, got[i]); string(e.Data) != want {
					t.Errorf("reader %d: got %s, want %s", i, e.Data, want)
					return
				}
				got[i]++
			}
		})
	}
	// Fill the slow peer's socket: it never reads.
	big := make([]byte, 256<<10)
	for range 64 {
		h.Publish("flood", MessageBinary, big)
	}
	for i := range messages {
		h.Publish("all", MessageText, fmt.Appendf(nil, "%d", i))
	}
	wg.Wait()
	// SlowClosed counts the peer when its close is queued; Conns drops
	// once its connection has ended.
	waitfor.State(t, "the slow peer to be dropped", waitTimeout+writeTimeout, func() (bool, string) {
		s := h.Stats()
		return s.WriteFailed == 1 && s.Clients == readers, fmt.Sprintf("%+v", s)
	})
	for i, n := range got {
		if n != messages {
			t.Fatalf("reader %d got %d of %d messages", i, n, messages)
		}
	}
	if s := h.Stats(); s.Clients != readers || s.WriteFailed != 1 {
		t.Fatalf("stats %+v", s)
	}
	for _, c := range conns {
		c.Close()
	}
	waitfor.Cond(t, "connections to close", waitTimeout, func() bool { return h.Stats().Clients == 0 })
	h.Shutdown(context.Background())
	srv.Close()
}

// TestHubCycles: 1,000 connections to a hub that come and go leave no
// goroutine and no connection behind.
func TestHubCycles(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	h := NewHub(HubOptions{})
	srv := httptest.NewServer(h)
	for i := range 1000 {
		c, _, err := wstest.Dial(srv.URL+"?topic=t", nil)
		if err != nil || c == nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			c.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(1000, "")))
			readClose(t, c)
		}
		c.Close()
	}
	waitfor.Cond(t, "connections to close", waitTimeout, func() bool { return h.Stats().Clients == 0 })
	if s := h.Stats(); s.Opened != 1000 {
		t.Fatalf("stats %+v", s)
	}
	h.Shutdown(context.Background())
	srv.Close()
}

// TestHubPanic: a panic in OnMessage closes that connection with 1011 and
// leaves the hub serving.
func TestHubPanic(t *testing.T) {
	_, srv := serveHub(t, HubOptions{
		OnMessage: func(c *Member, typ MessageType, data []byte) {
			if string(data) == "boom" {
				panic("boom")
			}
			c.Send(typ, data)
		},
	})
	c := dial(t, srv.URL, nil)
	send(t, c, wstest.OpText, "boom")
	if cf := readClose(t, c); cf.Code != int(statusInternalError) || cf.Reason == "" {
		t.Fatalf("close %d %q, want 1011 with a reason", cf.Code, cf.Reason)
	}
	c = dial(t, srv.URL, nil)
	send(t, c, wstest.OpText, "still here")
	if _, data, err := c.ReadMessage(); err != nil || string(data) != "still here" {
		t.Fatalf("after a panic: %q %v", data, err)
	}
}

// A panic in OnClose is logged; it neither stops the server nor keeps the
// connection's slot.
func TestHubPanicInOnClose(t *testing.T) {
	var log testutil.Buffer
	h, srv := serveHub(t, HubOptions{
		MaxClientsPerAddr: 1,
		Conn:              AcceptOptions{Logger: log.Logger()},
		OnClose:           func(*Member, error) { panic("boom in OnClose") },
	})
	for range 3 {
		c := dial(t, srv.URL, nil)
		c.Close()
		waitfor.Cond(t, "the connection released", waitTimeout, func() bool { return h.Stats().Clients == 0 })
	}
	if !strings.Contains(log.String(), "boom in OnClose") {
		t.Errorf("the log does not show the panic:\n%s", log.String())
	}
}

// TestHubGapResumeIDs checks the ID a gap notice gives to resume from: just
// before the first message replayed, or "epoch-0" on a hub that has
// published nothing, so the client's next reconnect is not a gap again.
func TestHubGapResumeIDs(t *testing.T) {
	h, srv := serveHub(t, HubOptions{Epoch: "ep"})
	c := dial(t, srv.URL+"?topic=t&lastEventId=old-9", nil)
	if e := readEnvelope(t, c); e.Type != "gap" || e.ID != "ep-0" {
		t.Fatalf("gap on an empty hub = %+v, want id ep-0", e)
	}
	h.Publish("other", MessageText, []byte("x"))
	h.Publish("t", MessageText, []byte("y"))
	c = dial(t, srv.URL+"?topic=t&lastEventId=old-9", nil)
	if e := readEnvelope(t, c); e.Type != "gap" || e.ID != "ep-1" {
		t.Fatalf("gap before a replay of ep-2 = %+v, want id ep-1", e)
	}
	if e := readEnvelope(t, c); e.ID != "ep-2" {
		t.Fatalf("replay = %+v, want ep-2", e)
	}
}

// TestHubEpochEscaped: an epoch with characters JSON must escape still
// gives valid envelopes, text and binary, with the ID as it is.
func TestHubEpochEscaped(t *testing.T) {
	const epoch = `a"b\c`
	h, srv := serveHub(t, HubOptions{Epoch: epoch})
	c := dial(t, srv.URL+"?topic=t", nil)
	h.Publish("t", MessageText, []byte("x"))
	h.Publish("t", MessageBinary, []byte("y"))
	for _, want := range []string{epoch + "-1", epoch + "-2"} {
		if e := readEnvelope(t, c); e.ID != want {
			t.Fatalf("got %+v, want ID %q", e, want)
		}
	}
}
