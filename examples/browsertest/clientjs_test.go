package browsertest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/ws"
)

// clientPage is the page of the client.js tests: it loads the script from
// the hub's server and records everything a RealtimeSocket reports in
// window.events, in order. start(options) opens the socket as window.rt.
const clientPage = `<!doctype html>
<meta charset="utf-8">
<title>client.js</title>
<script src="/ws/client.js"></script>
<script>
window.events = [];
function record(e) { events.push(e); }
function decode(d) { return d instanceof ArrayBuffer ? Array.from(new Uint8Array(d)) : d; }
function start(options, url) {
  const rt = new RealtimeSocket(url || "/ws", options);
  rt.onopen = () => record({ev: "open", lastEventId: rt.lastEventId, topics: rt.topics,
    protocol: rt.socket.protocol});
  rt.onmessage = (m) => record({ev: "message", id: m.id, topic: m.topic, data: decode(m.data),
    kind: m.kind === undefined ? null : m.kind});
  rt.ongap = (g) => record({ev: "gap", gap: g});
  rt.onclose = (e) => record({ev: "close", code: e.code, willRetry: e.willRetry, delay: e.delay});
  window.rt = rt;
}
</script>
`

// jsHub is a ws.Hub served on 127.0.0.1 next to the test page and
// client.js, which a test can stop and start again on the same port.
type jsHub struct {
	t    *testing.T
	opts ws.HubOptions

	refuse atomic.Bool        // while set, new connections get 503 (the client retries)
	conns  chan *ws.Member    // every connection, as it opens
	said   chan string        // what clients sent
	reply  func(m *ws.Member) // answers each message a client sends, when set
	resume chan string        // the lastEventId of each request to /longid

	mu   sync.Mutex
	hub  *ws.Hub
	srv  *http.Server
	addr string
	done chan struct{}
}

// startJSHub serves a Hub with opts (Topics, OnConnect and OnMessage are
// the harness's) on a free port of 127.0.0.1.
func startJSHub(t *testing.T, opts ws.HubOptions, reply func(m *ws.Member)) *jsHub {
	t.Helper()
	j := &jsHub{t: t, opts: opts, conns: make(chan *ws.Member, 64), said: make(chan string, 64), reply: reply, resume: make(chan string, 64), addr: "127.0.0.1:0"}
	j.opts.Topics = func(r *http.Request) ([]string, error) {
		if j.refuse.Load() {
			return nil, &ws.StatusError{Code: http.StatusServiceUnavailable}
		}
		return r.URL.Query()["topic"], nil
	}
	j.opts.OnConnect = func(m *ws.Member, r *http.Request) { j.conns <- m }
	j.opts.OnMessage = func(m *ws.Member, typ ws.MessageType, data []byte) {
		j.said <- string(data)
		if j.reply != nil {
			j.reply(m)
		}
	}
	j.start(nil)
	t.Cleanup(func() {
		if j.running() {
			j.stop()
		}
	})
	return j
}

func (j *jsHub) running() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.srv != nil
}

// start serves a new Hub on j's address, with the history in saved when
// it is not nil.
func (j *jsHub) start(saved []byte) {
	j.t.Helper()
	h := ws.NewHub(j.opts)
	if saved != nil {
		if err := h.LoadHistory(bytes.NewReader(saved)); err != nil {
			j.t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", j.addr)
	if err != nil {
		j.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	mux.Handle("/ws/client.js", ws.ClientScript)
	mux.HandleFunc("/older", olderServer)
	mux.HandleFunc("/saved", savedHistoryServer)
	mux.HandleFunc("/acceptclose", acceptAndClose)
	mux.HandleFunc("/longid", j.longID)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(clientPage))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	j.mu.Lock()
	j.hub, j.srv, j.addr, j.done = h, srv, ln.Addr().String(), done
	j.mu.Unlock()
}

// stop closes the listener, shuts the Hub down (its clients get 1001) and
// returns its saved history.
func (j *jsHub) stop() []byte {
	j.t.Helper()
	j.mu.Lock()
	h, srv, done := j.hub, j.srv, j.done
	j.srv = nil
	j.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		j.t.Errorf("http shutdown: %v", err)
	}
	<-done
	if err := h.Shutdown(ctx); err != nil {
		j.t.Errorf("hub shutdown: %v", err)
	}
	var saved bytes.Buffer
	if err := h.SaveHistory(&saved); err != nil {
		j.t.Fatal(err)
	}
	return saved.Bytes()
}

func (j *jsHub) url(path string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return "http://" + j.addr + path
}

// publish publishes text on topic and returns its ID.
func (j *jsHub) publish(topic, text string) string {
	j.t.Helper()
	j.mu.Lock()
	h := j.hub
	j.mu.Unlock()
	id, err := h.Publish(topic, ws.MessageText, []byte(text))
	if err != nil {
		j.t.Fatal(err)
	}
	return id
}

// conn waits for the next connection.
func (j *jsHub) conn() *ws.Member {
	j.t.Helper()
	select {
	case c := <-j.conns:
		return c
	case <-time.After(waitTimeout):
		j.t.Fatal("timed out waiting for client.js to connect")
		return nil
	}
}

// A jsEvent is one entry of the page's window.events.
type jsEvent struct {
	Ev          string          `json:"ev"`
	LastEventID *string         `json:"lastEventId"`
	Topics      []string        `json:"topics"`
	Protocol    string          `json:"protocol"`
	ID          *string         `json:"id"`
	Topic       *string         `json:"topic"`
	Data        json.RawMessage `json:"data"`
	Kind        *string         `json:"kind"`
	Gap         *struct {
		LastEventID string `json:"lastEventId"`
		Reason      string `json:"reason"`
		ID          string `json:"id"`
	} `json:"gap"`
	Code      int  `json:"code"`
	WillRetry bool `json:"willRetry"`
	Delay     int  `json:"delay"`
}

// events returns the page's events.
func events(tb *tab) []jsEvent {
	tb.t.Helper()
	var evs []jsEvent
	if err := json.Unmarshal([]byte(eval[string](tb, `JSON.stringify(events)`)), &evs); err != nil {
		tb.t.Fatal(err)
	}
	return evs
}

// waitEvents waits until the page has recorded at least n events of kind
// ev and returns them.
func waitEvents(tb *tab, ev string, n int) []jsEvent {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf("%d %s event(s)", n, ev), fmt.Sprintf(`events.filter(e => e.ev === %s).length >= %d`, jsString(ev), n))
	var out []jsEvent
	for _, e := range events(tb) {
		if e.Ev == ev {
			out = append(out, e)
		}
	}
	return out
}

// messageTexts returns the data of the page's hub messages as Go strings
// (JSON text for values that are not strings), with their IDs.
func messageTexts(tb *tab) (ids, texts []string) {
	tb.t.Helper()
	for _, e := range events(tb) {
		if e.Ev != "message" || e.ID == nil {
			continue
		}
		var s string
		if json.Unmarshal(e.Data, &s) != nil {
			s = string(e.Data)
		}
		ids = append(ids, *e.ID)
		texts = append(texts, s)
	}
	return ids, texts
}

// openClient opens the test page and starts a RealtimeSocket with the
// JavaScript options object opts.
func openClient(t *testing.T, j *jsHub, opts string, path ...string) *tab {
	t.Helper()
	b := newBrowser(t)
	p := newTab(t, b, "client", j.url("/"))
	p.waitJS("client.js to load", `typeof RealtimeSocket === "function"`)
	url := "/ws"
	if len(path) > 0 {
		url = path[0]
	}
	p.do("start", runJS(`start(`+opts+`, `+jsString(url)+`)`))
	return p
}

// TestClientJSReconnectBackoff: while the server refuses it, client.js
// retries with delays drawn from a doubling range capped at maxDelay, and
// once back it resumes with the last ID and starts the backoff over.
func TestClientJSReconnectBackoff(t *testing.T) {
	leakcheck.Check(t)
	j := startJSHub(t, ws.HubOptions{Epoch: "ep"}, nil)
	p := openClient(t, j, `{topics: ["news"], minDelay: 40, maxDelay: 300}`)
	first := j.conn()
	waitEvents(p, "open", 1)
	j.publish("news", "one")
	waitEvents(p, "message", 1)

	const refused = 6
	j.refuse.Store(true)
	first.Conn().CloseNow()
	closes := waitEvents(p, "close", refused+1)
	j.refuse.Store(false)
	j.publish("news", "two")
	second := j.conn()
	opens := waitEvents(p, "open", 2)
	if got := opens[1].LastEventID; got == nil || *got != "ep-1" {
		t.Fatalf("reconnected with lastEventId %v, want ep-1", got)
	}
	if _, texts := messageTexts(waitPage(p, 2)); strings.Join(texts, ",") != "one,two" {
		t.Fatalf("messages %q, want one,two", texts)
	}
	for i, c := range closes[:refused+1] {
		ceiling := min(300, 40<<i)
		if !c.WillRetry || c.Delay < ceiling/2 || c.Delay > ceiling {
			t.Fatalf("close %d: retry in %d ms (willRetry %v), want within [%d, %d]", i, c.Delay, c.WillRetry, ceiling/2, ceiling)
		}
	}
	// A connection that opened starts the backoff over.
	j.refuse.Store(true)
	second.Conn().CloseNow()
	closes = waitEvents(p, "close", refused+2)
	j.refuse.Store(false)
	if d := closes[len(closes)-1].Delay; d < 20 || d > 40 {
		t.Fatalf("first retry after a successful connection in %d ms, want within [20, 40]", d)
	}
	p.do("close", runJS(`rt.close()`))
}

// acceptAndClose accepts a WebSocket with realtime.v1 and closes it at
// once, as a broken or hostile server does; with ?say=1 it sends a
// direct message first.
func acceptAndClose(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, &ws.AcceptOptions{Subprotocols: []string{ws.Subprotocol}})
	if err != nil {
		return
	}
	if r.URL.Query().Get("say") != "" {
		c.Send(ws.MessageText, []byte("hi"))
	}
	c.Close(ws.StatusNormalClosure, "")
}

// TestClientJSBackoffAcceptAndClose: against a server that accepts every
// connection and closes it at once, client.js does not start its backoff
// over with each open: the delays of 6 reconnections double from minDelay.
// A connection that delivered a message does start it over.
func TestClientJSBackoffAcceptAndClose(t *testing.T) {
	leakcheck.Check(t)
	j := startJSHub(t, ws.HubOptions{Epoch: "ep"}, nil)
	const n = 6
	p := openClient(t, j, `{minDelay: 20, maxDelay: 10000}`, "/acceptclose")
	closes := waitEvents(p, "close", n)
	p.do("close", runJS(`rt.close()`))
	if opens := waitEvents(p, "open", 1); len(opens) < n-1 {
		t.Fatalf("%d opens for %d closes: want the server to accept each", len(opens), len(closes))
	}
	for i, c := range closes[:n] {
		ceiling := 20 << i
		if c.Delay < ceiling/2 || c.Delay > ceiling {
			t.Errorf("close %d: retry in %d ms, want within [%d, %d]: the backoff went on", i+1, c.Delay, ceiling/2, ceiling)
		}
	}

	p = openClient(t, j, `{minDelay: 20, maxDelay: 10000}`, "/acceptclose?say=1")
	closes = waitEvents(p, "close", n)
	p.do("close", runJS(`rt.close()`))
	for i, c := range closes[:n] {
		if c.Delay < 10 || c.Delay > 20 {
			t.Errorf("close %d after a message: retry in %d ms, want within [10, 20]: the backoff starts over", i+1, c.Delay)
		}
	}
}

// longIDLength is the length of the ID that longID sends: past what
// client.js sends back.
const longIDLength = 4096

// longID accepts a WebSocket without a subprotocol, sends a hub message
// whose ID is longIDLength bytes long, and closes, recording the
// lastEventId of each request in j.resume.
func (j *jsHub) longID(w http.ResponseWriter, r *http.Request) {
	select {
	case j.resume <- r.URL.Query().Get("lastEventId"):
	default:
	}
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.Send(ws.MessageText, []byte(`{"id":"`+strings.Repeat("i", longIDLength)+`","topic":"t","data":1}`))
	c.Close(ws.StatusNormalClosure, "")
}

// TestClientJSLongIDNotSentBack: a hub message whose ID is longer than
// client.js sends back is delivered, but the next connection resumes as a
// new one instead of repeating the ID in its URL.
func TestClientJSLongIDNotSentBack(t *testing.T) {
	leakcheck.Check(t)
	j := startJSHub(t, ws.HubOptions{Epoch: "ep"}, nil)
	p := openClient(t, j, `{v1: false, lastEventId: "ep-1", minDelay: 20}`, "/longid")
	waitEvents(p, "open", 2)
	p.do("close", runJS(`rt.close()`))
	for i, want := range []string{"ep-1", ""} {
		select {
		case got := <-j.resume:
			if got != want {
				t.Errorf("connection %d: lastEventId of %d bytes, want %q", i+1, len(got), want)
			}
		case <-time.After(waitTimeout):
			t.Fatal("timed out waiting for client.js to connect")
		}
	}
	if ids, _ := messageTexts(p); len(ids) == 0 || len(ids[0]) != longIDLength {
		t.Fatalf("the message with the long ID was not delivered: %d messages", len(ids))
	}
}

// waitPage waits until the page holds n hub messages.
func waitPage(p *tab, n int) *tab {
	p.t.Helper()
	p.waitJS(fmt.Sprintf("%d hub messages", n), fmt.Sprintf(`events.filter(e => e.ev === "message" && e.id).length >= %d`, n))
	return p
}

// TestClientJSRestart: the server stops and starts again on the same port
// with its saved history; messages published on the new server before the
// client comes back are replayed, and the page holds every message once,
// in order, with no gap. A restart without the history is a gap.
func TestClientJSRestart(t *testing.T) {
	leakcheck.Check(t)
	j := startJSHub(t, ws.HubOptions{Epoch: "ep"}, nil)
	p := openClient(t, j, `{topics: ["news"], minDelay: 50, maxDelay: 200}`)
	j.conn()
	waitEvents(p, "open", 1)
	var want []string
	for i := range 5 {
		want = append(want, j.publish("news", fmt.Sprint("before ", i)))
	}
	waitPage(p, 5)

	j.refuse.Store(true) // the new server refuses until it has published
	saved := j.stop()
	j.start(saved)
	for i := range 3 {
		want = append(want, j.publish("news", fmt.Sprint("while away ", i)))
	}
	j.refuse.Store(false)
	j.conn()
	waitEvents(p, "open", 2)
	for i := range 2 {
		want = append(want, j.publish("news", fmt.Sprint("after ", i)))
	}
	waitPage(p, len(want))
	ids, _ := messageTexts(p)
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("the page got %v, want %v: each once, in order", ids, want)
	}
	if gaps := len(waitEventsNow(p, "gap")); gaps != 0 {
		t.Fatalf("%d gap(s) across a restart with history", gaps)
	}

	// Without the history, the new server does not know the epoch.
	j.stop()
	j.opts.Epoch = "fresh"
	j.start(nil)
	j.conn()
	gaps := waitEvents(p, "gap", 1)
	if g := gaps[0].Gap; g.Reason != "unknown epoch" || g.LastEventID != want[len(want)-1] || g.ID != "fresh-0" {
		t.Fatalf("gap %+v, want unknown epoch after %s, resuming from fresh-0", g, want[len(want)-1])
	}
	j.publish("news", "new epoch")
	p.waitJS("the message of the new epoch", `rt.lastEventId === "fresh-1"`)
}

// waitEventsNow returns the events of kind ev the page holds now.
func waitEventsNow(p *tab, ev string) []jsEvent {
	var out []jsEvent
	for _, e := range events(p) {
		if e.Ev == ev {
			out = append(out, e)
		}
	}
	return out
}

// TestClientJSGap: away longer than the history holds, the client gets a
// gap notice with the reason and the ID to resume from, then what the
// history still holds, and later reconnections resume after those.
func TestClientJSGap(t *testing.T) {
	leakcheck.Check(t)
	j := startJSHub(t, ws.HubOptions{Epoch: "ep", HistorySize: 3}, nil)
	p := openClient(t, j, `{topics: ["news"], minDelay: 50, maxDelay: 200}`)
	c := j.conn()
	waitEvents(p, "open", 1)
	j.publish("news", "seen")
	waitPage(p, 1)

	j.refuse.Store(true)
	c.Conn().CloseNow()
	waitEvents(p, "close", 1)
	for i := range 6 {
		j.publish("news", fmt.Sprint("later ", i))
	}
	j.refuse.Store(false)
	j.conn()
	gaps := waitEvents(p, "gap", 1)
	if g := gaps[0].Gap; g.Reason != "history exceeded" || g.LastEventID != "ep-1" || g.ID != "ep-4" {
		t.Fatalf("gap %+v, want history exceeded after ep-1, resuming from ep-4", g)
	}
	waitPage(p, 4)
	_, texts := messageTexts(p)
	if got := strings.Join(texts, ","); got != "seen,later 3,later 4,later 5" {
		t.Fatalf("messages %q, want seen and the three the history held", got)
	}
	evs := events(p)
	gapAt, firstAfter := -1, -1
	for i, e := range evs {
		if e.Ev == "gap" {
			gapAt = i
		}
		if e.Ev == "message" && string(e.Data) == `"later 3"` {
			firstAfter = i
		}
	}
	if gapAt > firstAfter {
		t.Fatalf("the gap notice came after the replay: %+v", evs)
	}
	if id := eval[string](p, `rt.lastEventId`); id != "ep-7" {
		t.Fatalf("lastEventId %s after the replay, want ep-7", id)
	}
}

// TestClientJSJoinLeave: join and leave reconnect with the new topics and
// resume, so a message published meanwhile is not lost.
func TestClientJSJoinLeave(t *testing.T) {
	leakcheck.Check(t)
	j := startJSHub(t, ws.HubOptions{Epoch: "ep"}, nil)
	p := openClient(t, j, `{topics: ["news"], minDelay: 50, maxDelay: 200}`)
	j.conn()
	waitEvents(p, "open", 1)
	j.publish("news", "n1")
	waitPage(p, 1)

	j.refuse.Store(true) // hold the new connection off while publishing
	p.do("join", runJS(`rt.join("sport")`))
	waitEvents(p, "close", 1)
	j.publish("sport", "s1")
	j.publish("news", "n2")
	j.refuse.Store(false)
	c := j.conn()
	if got := strings.Join(c.Topics(), ","); got != "news,sport" {
		t.Fatalf("topics after join: %s", got)
	}
	waitPage(p, 3)
	if got := eval[string](p, `rt.topics.join(",")`); got != "news,sport" {
		t.Fatalf("rt.topics %s after join", got)
	}

	p.do("leave", runJS(`rt.leave("news")`))
	c = j.conn()
	if got := strings.Join(c.Topics(), ","); got != "sport" {
		t.Fatalf("topics after leave: %s", got)
	}
	waitEvents(p, "open", 3)
	j.publish("news", "n3")
	j.publish("sport", "s2")
	waitPage(p, 4)
	_, texts := messageTexts(p)
	if got := strings.Join(texts, ","); got != "n1,s1,n2,s2" {
		t.Fatalf("messages %q, want n1,s1,n2,s2 (n3 is on a topic left)", got)
	}
}

// runJS evaluates a JavaScript statement on a tab.
func runJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](expr)
}

// TestClientJSDirect: what the page sends reaches the server, and the
// server's answers to this connection alone (Member.Send, Member.SendJSON) reach
// onmessage with no ID and do not change lastEventId.
func TestClientJSDirect(t *testing.T) {
	leakcheck.Check(t)
	replyErr := make(chan error, 8)
	j := startJSHub(t, ws.HubOptions{Epoch: "ep"}, func(m *ws.Member) {
		err := errors.Join(m.Send(ws.MessageText, []byte("direct")),
			m.SendJSON(map[string]any{"id": "x-9", "topic": "news", "data": "looks like a hub message"}),
			m.Send(ws.MessageBinary, []byte{7, 8}))
		replyErr <- err
	})
	p := openClient(t, j, `{topics: ["news"], minDelay: 50, maxDelay: 200}`)
	j.conn()
	waitEvents(p, "open", 1)
	id := j.publish("news", "hub")
	waitPage(p, 1)
	if ok := eval[bool](p, `rt.send({say: "hello"})`); !ok {
		t.Fatal("send returned false on an open socket")
	}
	if s := <-j.said; s != `{"say":"hello"}` {
		t.Fatalf("the server got %q", s)
	}
	if err := <-replyErr; err != nil {
		t.Fatal(err)
	}
	msgs := waitEvents(p, "message", 4)
	direct := msgs[1:]
	if direct[0].ID != nil || string(direct[0].Data) != `"direct"` {
		t.Fatalf("direct text: %+v", direct[0])
	}
	if direct[1].ID != nil || string(direct[1].Data) != `{"data":"looks like a hub message","id":"x-9","topic":"news"}` {
		t.Fatalf("direct JSON: %+v", direct[1])
	}
	if direct[2].ID != nil || string(direct[2].Data) != `[7,8]` {
		t.Fatalf("direct binary: %+v", direct[2])
	}
	for _, d := range direct {
		if d.Kind == nil || *d.Kind != "direct" {
			t.Fatalf("direct message of kind %v", d.Kind)
		}
	}
	if k := msgs[0].Kind; k == nil || *k != "message" {
		t.Fatalf("hub message of kind %v", k)
	}
	if got := eval[string](p, `rt.lastEventId`); got != id {
		t.Fatalf("lastEventId %s after direct messages, want %s, the last hub message", got, id)
	}
	if got := eval[string](p, `rt.protocol`); got != ws.Subprotocol {
		t.Fatalf("rt.protocol %q, want %q", got, ws.Subprotocol)
	}
}

// olderServer stands for a server that does not speak realtime.v1: it
// sends a hub envelope of the first format, a text and a binary message.
func olderServer(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.Send(ws.MessageText, []byte(`{"id":"old-1","topic":"news","data":"from a hub"}`))
	c.Send(ws.MessageText, []byte("plain"))
	c.Send(ws.MessageBinary, []byte{9})
	c.Close(ws.StatusNormalClosure, "")
}

// TestClientJSOlderServer: told not to offer realtime.v1, client.js reads
// hub envelopes and plain messages as the protocol before version 1 had
// them.
func TestClientJSOlderServer(t *testing.T) {
	leakcheck.Check(t)
	j := startJSHub(t, ws.HubOptions{}, nil)
	p := openClient(t, j, `{v1: false, minDelay: 5000}`, "/older")
	msgs := waitEvents(p, "message", 3)
	if m := msgs[0]; m.ID == nil || *m.ID != "old-1" || *m.Kind != "message" || string(m.Data) != `"from a hub"` {
		t.Fatalf("hub envelope from an older server: %+v", m)
	}
	if m := msgs[1]; m.ID != nil || *m.Kind != "direct" || string(m.Data) != `"plain"` {
		t.Fatalf("text from an older server: %+v", m)
	}
	if m := msgs[2]; m.ID != nil || *m.Kind != "direct" || string(m.Data) != `[9]` {
		t.Fatalf("binary from an older server: %+v", m)
	}
	if got := eval[string](p, `rt.lastEventId + " " + JSON.stringify(rt.protocol)`); got != `old-1 ""` {
		t.Fatalf("lastEventId and protocol: %s", got)
	}
	p.do("close", runJS(`rt.close()`))
}

// savedHistoryServer stands for a Hub that replays, on a realtime.v1
// connection, a message saved by a version before realtime.v1: an envelope
// without "type". It writes the frames by hand, then a hub message of
// version 1 and a close.
func savedHistoryServer(w http.ResponseWriter, r *http.Request) {
	nc, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer nc.Close()
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	rw.WriteString("Sec-WebSocket-Protocol: " + ws.Subprotocol + "\r\n")
	rw.WriteString("Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
	for _, m := range []string{
		`{"id":"ep-1","topic":"news","data":"saved before v1"}`,
		`{"type":"message","id":"ep-2","topic":"news","data":"v1"}`,
	} {
		rw.Write([]byte{0x81, byte(len(m))})
		rw.WriteString(m)
	}
	rw.Write([]byte{0x88, 2, 0x03, 0xe8})
	rw.Flush()
	nc.SetReadDeadline(time.Now().Add(waitTimeout))
	rw.Read(make([]byte, 64)) // the client's close
}

// TestClientJSSavedHistory: on a realtime.v1 connection, a hub message
// without "type", as a Hub replays from a history saved before version 1,
// is still a hub message and moves lastEventId.
func TestClientJSSavedHistory(t *testing.T) {
	leakcheck.Check(t)
	j := startJSHub(t, ws.HubOptions{}, nil)
	p := openClient(t, j, `{minDelay: 5000}`, "/saved")
	msgs := waitEvents(p, "message", 2)
	for i, want := range []string{"ep-1", "ep-2"} {
		if m := msgs[i]; m.ID == nil || *m.ID != want || *m.Kind != "message" {
			t.Fatalf("message %d: %+v, want hub message %s", i, m, want)
		}
	}
	if got := eval[string](p, `rt.protocol`); got != ws.Subprotocol {
		t.Fatalf("protocol %q", got)
	}
	p.do("close", runJS(`rt.close()`))
}
