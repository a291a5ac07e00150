package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Bounds of the tests' waits. Only a failing test waits this long.
const (
	waitTimeout  = 60 * time.Second // for every message of a test to arrive
	startTimeout = 30 * time.Second // for a node or NATS server to start
)

// testStream is the stream the tests use, with subjects of its own.
const testStream = "TEST"

// natsServer is an embedded NATS server a test can stop and start again
// with its store, on the same port.
type natsServer struct {
	t     testing.TB
	dir   string
	addr  string // host:port, fixed once the first start chose a port
	s     *server.Server
	mu    sync.Mutex
	alive bool
}

// startNATS starts a NATS server with JetStream on 127.0.0.1, stopped at
// the end of the test.
func startNATS(t testing.TB) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	s, err := startEmbedded(ns.addr, ns.dir, "")
	if err != nil {
		ns.t.Fatal(err)
	}
	ns.mu.Lock()
	ns.s, ns.alive = s, true
	ns.addr = s.Addr().String()
	ns.mu.Unlock()
}

func (ns *natsServer) stop() {
	ns.mu.Lock()
	s, alive := ns.s, ns.alive
	ns.alive = false
	ns.mu.Unlock()
	if alive {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

func (ns *natsServer) url() string { return "nats://" + ns.addr }

// connect returns a JetStream client of ns, closed at the end of the test.
func (ns *natsServer) connect(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// cutListener is a listener that can cut every connection it accepted,
// as a node's process dying does.
type cutListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func (l *cutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns = append(l.conns, c)
	return c, nil
}

// cutAll closes the listener and every connection it accepted.
func (l *cutListener) cutAll() {
	l.mu.Lock()
	l.cut = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	l.Listener.Close()
	for _, c := range conns {
		c.Close()
	}
}

// testNode is a node started by a test on 127.0.0.1.
type testNode struct {
	*node
	url  string // http://127.0.0.1:port
	ln   *cutListener
	logs *syncBuffer
	once sync.Once
}

// syncBuffer collects a node's logs, shown when its test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testToken is the publish token of the tests' nodes.
const testToken = "test-publish-token"

// startTestNode starts a node on the NATS server at natsURL with the test
// stream; edit, when set, changes its options first. The node stops at
// the end of the test.
func startTestNode(t testing.TB, name, natsURL string, edit func(*nodeOptions)) *testNode {
	t.Helper()
	return startTestNodeAt(t, name, natsURL, "127.0.0.1:0", edit)
}

// startTestNodeAt is startTestNode listening on addr: a node started
// again where one was killed, for the clients of that one.
func startTestNodeAt(t testing.TB, name, natsURL, addr string, edit func(*nodeOptions)) *testNode {
	t.Helper()
	logs := &syncBuffer{}
	opts := nodeOptions{
		Name:          name,
		NATS:          []string{natsURL},
		Stream:        streamOptions{Name: testStream},
		PublishTokens: []string{testToken},
		WatchInterval: 100 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&opts)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	cl := &cutListener{Listener: ln}
	n, err := startNode(opts, cl)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	tn := &testNode{node: n, url: "http://" + ln.Addr().String(), ln: cl, logs: logs}
	t.Cleanup(func() {
		tn.stop(t)
		if t.Failed() {
			t.Logf("logs of node %s:\n%s", name, logs)
		}
	})
	return tn
}

// stop shuts the node down, once.
func (tn *testNode) stop(t testing.TB) {
	tn.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
		defer cancel()
		if err := tn.Shutdown(ctx); err != nil && !tn.ln.cut {
			t.Errorf("node %s: shutdown: %v", tn.name, err)
		}
	})
}

// kill cuts every connection of the node, as its process dying would,
// then stops what is left of it.
func (tn *testNode) kill(t testing.TB) {
	tn.ln.cutAll()
	tn.stop(t)
}

// waitReady waits until the node's /healthz answers 200.
func (tn *testNode) waitReady(t testing.TB) health {
	t.Helper()
	return waitReady(t, tn.url)
}

// waitReady waits until /healthz of the node at base answers 200.
func waitReady(t testing.TB, base string) health {
	t.Helper()
	var h health
	waitfor.State(t, "node "+base+" to be ready", startTimeout, func() (bool, string) {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		h = health{}
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			return false, err.Error()
		}
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %+v", resp.StatusCode, h)
	})
	return h
}

// published is what a publish answered, with what was published.
type published struct {
	publishResponse
	topic, data string
}

// publish publishes data to topic through the node at base, with the
// publish ID key ("" for none); it retries with the same key while the
// node answers 503 or cannot be reached, until ctx ends.
func publish(ctx context.Context, base, topic, data, key string) (published, error) {
	body, _ := json.Marshal(publishRequest{Topic: topic, Data: json.RawMessage(strconv.Quote(data))})
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/publish", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testToken)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				var pr publishResponse
				if err := json.Unmarshal(b, &pr); err != nil {
					return published{}, err
				}
				return published{pr, topic, data}, nil
			case http.StatusServiceUnavailable:
				err = fmt.Errorf("503: %s", b)
			default:
				return published{}, fmt.Errorf("publish: %s: %s", resp.Status, b)
			}
		}
		if key == "" {
			return published{}, err
		}
		select {
		case <-ctx.Done():
			return published{}, fmt.Errorf("publish %q: %w (last: %v)", key, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond): // retry, as a client does
		}
	}
}

// A got is a message a client received: a message, or a gap.
type got struct {
	id, topic, data string
	gap             bool
}

// collector holds what one client received, for the test to wait on.
type collector struct {
	name    string
	mu      sync.Mutex
	msgs    []got
	changed chan struct{} // closed and replaced at each change
	err     error
	done    chan struct{}
	lastID  func() string
	close   func()
}

func newCollector(name string) *collector {
	return &collector{name: name, changed: make(chan struct{}), done: make(chan struct{})}
}

func (c *collector) add(g got) {
	c.mu.Lock()
	c.msgs = append(c.msgs, g)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *collector) finish(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

// snapshot returns what was received so far.
func (c *collector) snapshot() []got {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]got(nil), c.msgs...)
}

// waitFor waits until cond holds for what was received, the client ends,
// or waitTimeout passes.
func (c *collector) waitFor(t testing.TB, what string, cond func([]got) bool) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		ok, ch, n := cond(c.msgs), c.changed, len(c.msgs)
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-c.done:
			c.mu.Lock()
			ok := cond(c.msgs)
			c.mu.Unlock()
			if !ok {
				t.Fatalf("%s: ended (%v) before %s; got %d", c.name, c.err, what, n)
			}
			return
		case <-timer.C:
			t.Fatalf("%s: not %s within %v; got %d", c.name, what, waitTimeout, n)
		}
	}
}

// waitCount waits for n messages (gaps not counted).
func (c *collector) waitCount(t testing.TB, n int) {
	t.Helper()
	c.waitFor(t, fmt.Sprintf("%d messages", n), func(g []got) bool { return countMsgs(g) >= n })
}

// stop ends the client and returns the ID it would resume from.
func (c *collector) stop() string {
	c.close()
	<-c.done
	return c.lastID()
}

func countMsgs(g []got) int {
	n := 0
	for _, m := range g {
		if !m.gap {
			n++
		}
	}
	return n
}

// followSSE follows topics on the node at base with an sse.Client,
// resuming after lastID when it is not empty. The client gives up after
// two failed reconnections: its node is gone.
func followSSE(t testing.TB, base string, topics []string, lastID string) *collector {
	t.Helper()
	c, err := followSSEErr(t, base, topics, lastID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// followSSEErr is followSSE for any goroutine: it returns its error.
func followSSEErr(t testing.TB, base string, topics []string, lastID string) (*collector, error) {
	q := make([]string, len(topics))
	for i, tp := range topics {
		q[i] = "topic=" + url.QueryEscape(tp)
	}
	c := newCollector("sse client of " + base)
	client := &sse.Client{Retry: 20 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond, MaxRetries: 2}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := client.Subscribe(ctx, base+"/events?"+strings.Join(q, "&"), lastID)
	if err != nil {
		cancel()
		return nil, err
	}
	c.lastID = st.LastEventID
	c.close = func() { cancel(); st.Close() }
	go func() {
		for {
			e, err := st.Next()
			if err != nil {
				c.finish(err)
				return
			}
			if e.Type == sse.GapEvent {
				c.add(got{id: e.ID, data: e.Data, gap: true})
				continue
			}
			c.add(got{id: e.ID, data: e.Data})
		}
	}()
	t.Cleanup(func() { c.stop() })
	return c, nil
}

// followWS follows topics on the node at base with ws.Subscribe, resuming
// after lastID when it is not empty.
func followWS(t testing.TB, base string, topics []string, lastID string) *collector {
	t.Helper()
	c, err := followWSErr(t, base, topics, lastID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// followWSErr is followWS for any goroutine: it returns its error.
func followWSErr(t testing.TB, base string, topics []string, lastID string) (*collector, error) {
	c := newCollector("ws client of " + base)
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := ws.Subscribe(ctx, base+"/ws", &ws.SubscribeOptions{
		Topics: topics, LastEventID: lastID, Retry: 20 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	c.lastID = sub.LastEventID
	c.close = func() { cancel(); sub.Close() }
	go func() {
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				c.finish(err)
				return
			}
			switch {
			case m.Gap != nil:
				c.add(got{id: m.Gap.ID, data: m.Gap.Reason, gap: true})
			case m.ID != "":
				var text string
				if err := json.Unmarshal(m.Data, &text); err != nil {
					text = "undecodable: " + string(m.Data)
				}
				c.add(got{id: m.ID, topic: m.Topic, data: text})
			}
		}
	}()
	t.Cleanup(func() { c.stop() })
	return c, nil
}

// seqOf returns the sequence number of an ID "<epoch>-<seq>".
func seqOf(t testing.TB, id string) uint64 {
	t.Helper()
	i := strings.LastIndexByte(id, '-')
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if i < 0 || err != nil {
		t.Fatalf("malformed id %q", id)
	}
	return seq
}

// checkExactly fails t unless msgs are exactly want (IDs and data, in
// order), with no gap.
func checkExactly(t testing.TB, who string, msgs []got, want []published) {
	t.Helper()
	if len(msgs) != len(want) {
		t.Errorf("%s: got %d messages, want %d", who, len(msgs), len(want))
	}
	for i := range min(len(msgs), len(want)) {
		m, w := msgs[i], want[i]
		if m.gap || m.id != w.ID || m.data != w.data {
			t.Fatalf("%s: message %d is %+v, want id %s data %q (gap: %v)", who, i, m, w.ID, w.data, m.gap)
		}
	}
}

// bySeq sorts published messages in stream order.
func bySeq(ps []published) []published {
	out := append([]published(nil), ps...)
	for i := 1; i < len(out); i++ { // few enough for an insertion sort
		for j := i; j > 0 && out[j].Seq < out[j-1].Seq; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// after returns the messages of ps (in stream order) after the ID id.
func after(t testing.TB, ps []published, id string) []published {
	t.Helper()
	seq := uint64(0)
	if id != "" {
		seq = seqOf(t, id)
	}
	var out []published
	for _, p := range ps {
		if p.Seq > seq {
			out = append(out, p)
		}
	}
	return out
}
