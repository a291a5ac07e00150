package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/origin"
	"github.com/realtime-go/realtime/sse"
)

// testEvery is how often the market moves in these tests.
const testEvery = 5 * time.Millisecond

// ticker is one running ticker: market, broker and HTTP server on a real
// socket of 127.0.0.1.
type ticker struct {
	market *market
	broker *sse.Broker
	srv    *httptest.Server
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

func startTicker(t *testing.T, m *market, b *sse.Broker) *ticker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tk := &ticker{market: m, broker: b, srv: httptest.NewServer(newHandler(m, b)), stop: cancel}
	tk.wg.Go(func() { m.run(ctx, b, testEvery) })
	t.Cleanup(tk.close)
	return tk
}

// close stops the market, the streams and the server. It may be called
// more than once.
func (tk *ticker) close() {
	tk.stop()
	tk.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tk.broker.Shutdown(ctx)
	tk.srv.Close()
}

// openStream opens /events with the query and headers, and checks it is an
// event stream.
func openStream(t *testing.T, ctx context.Context, url string, lastID string) (*sse.Reader, io.Closer) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("GET %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	return sse.NewReader(resp.Body), resp.Body
}

// nextQuote reads the next event, which must be a price, and returns it
// with its ID.
func nextQuote(t *testing.T, r *sse.Reader) (quote, string) {
	t.Helper()
	e, err := r.Next()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	if e.Type != "price" {
		t.Fatalf("event of type %q (%s), want price", e.Type, e.Data)
	}
	var q quote
	if err := json.Unmarshal([]byte(e.Data), &q); err != nil {
		t.Fatalf("price data %q: %v", e.Data, err)
	}
	return q, e.ID
}

// loadPage gets the page at url and returns its config.
func loadPage(t *testing.T, url string) pageConfig {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	m := regexp.MustCompile(`(?s)<script id="config" type="application/json">(.*?)</script>`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no config in the page:\n%s", body)
	}
	var cfg pageConfig
	if err := json.Unmarshal(m[1], &cfg); err != nil {
		t.Fatalf("config %s: %v", m[1], err)
	}
	return cfg
}

func TestPage(t *testing.T) {
	leakcheck.Check(t)
	tk := startTicker(t, newMarket(), sse.NewBroker(sse.BrokerOptions{}))
	cfg := loadPage(t, tk.srv.URL+"/")
	if len(cfg.Symbols) != 6 || cfg.Symbols[0].Symbol != "ACME" || cfg.Symbols[0].Price <= 0 {
		t.Errorf("config symbols = %+v", cfg.Symbols)
	}

	for path, ctype := range map[string]string{
		"/static/app.js":    "text/javascript",
		"/static/style.css": "text/css",
	} {
		resp, err := http.Get(tk.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %s %s", path, resp.Status, resp.Header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/nope", "/static/nope.js"} {
		resp, err := http.Get(tk.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

// TestFirstLoad loads the page of a new server after its first event, and
// follows the stream as the page does: the first event comes too.
func TestFirstLoad(t *testing.T) {
	leakcheck.Check(t)
	m, b := newMarket(), sse.NewBroker(sse.BrokerOptions{})
	srv := httptest.NewServer(newHandler(m, b))
	defer srv.Close()
	defer b.Shutdown(context.Background())
	first, err := b.Publish("ACME", sse.Event{Type: "price", Data: `{"symbol":"ACME","price":120,"open":118.4,"time":1}`})
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.last = first // as market.run does
	m.mu.Unlock()

	cfg := loadPage(t, srv.URL+"/")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, body := openStream(t, ctx, srv.URL+"/events?topic=ACME&lastEventId="+cfg.Since, "")
	defer body.Close()
	if _, id := nextQuote(t, r); id != first {
		t.Fatalf("a page loaded with since=%q starts at %s, want %s", cfg.Since, id, first)
	}
}

func TestStream(t *testing.T) {
	leakcheck.Check(t)
	tk := startTicker(t, newMarket(), sse.NewBroker(sse.BrokerOptions{}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Only the symbols asked for arrive, with increasing IDs.
	r, body := openStream(t, ctx, tk.srv.URL+"/events?topic=ACME&topic=HOOLI", "")
	var lastID string
	seen := map[string]int{}
	for range 20 {
		q, id := nextQuote(t, r)
		if q.Symbol != "ACME" && q.Symbol != "HOOLI" {
			t.Fatalf("got %s on a stream of ACME and HOOLI", q.Symbol)
		}
		if q.Price <= 0 || q.Open <= 0 || q.Time == 0 {
			t.Fatalf("quote %+v", q)
		}
		seen[q.Symbol]++
		lastID = id
	}
	body.Close()
	if seen["ACME"] == 0 || seen["HOOLI"] == 0 {
		t.Errorf("symbols seen: %v", seen)
	}

	// Coming back with Last-Event-ID resumes right after it: the next
	// ACME or HOOLI event published after lastID, whatever happened since.
	r, body = openStream(t, ctx, tk.srv.URL+"/events?topic=ACME&topic=HOOLI", lastID)
	defer body.Close()
	_, id := nextQuote(t, r)
	if seqOf(t, id) <= seqOf(t, lastID) {
		t.Fatalf("resumed at %s after %s", id, lastID)
	}
	_, want := nextAfter(t, tk, lastID, "ACME", "HOOLI")
	if id != want {
		t.Fatalf("resumed at %s, want %s, the first event after %s", id, want, lastID)
	}
}

// nextAfter returns the first quote of the symbols published after id, as
// the history holds it, read with a stream that resumes from id.
func nextAfter(t *testing.T, tk *ticker, id string, symbols ...string) (quote, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := tk.srv.URL + "/events?topic=" + strings.Join(symbols, "&topic=")
	r, body := openStream(t, ctx, url+"&lastEventId="+id, "")
	defer body.Close()
	return nextQuote(t, r)
}

func seqOf(t *testing.T, id string) uint64 {
	t.Helper()
	var seq uint64
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		t.Fatalf("malformed id %q", id)
	}
	if _, err := fmt.Sscan(id[i+1:], &seq); err != nil {
		t.Fatalf("malformed id %q", id)
	}
	return seq
}

func TestBadRequests(t *testing.T) {
	leakcheck.Check(t)
	tk := startTicker(t, newMarket(), sse.NewBroker(sse.BrokerOptions{}))
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/events", http.StatusBadRequest},                           // no topic
		{"GET", "/events?topic=" + strings.Repeat("A", 300), 400},           // topic too long
		{"GET", "/events?topic=" + strings.Repeat("&topic=X", 70)[1:], 400}, // too many topics
		{"POST", "/events?topic=ACME", http.StatusMethodNotAllowed},
		{"POST", "/", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, tk.srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %.60s: %s, want %d", tc.method, tc.path, resp.Status, tc.want)
		}
	}
}

func TestSince(t *testing.T) {
	for _, tc := range []struct {
		epoch, last string
		n           int
		want        string
	}{
		{"ab", "", 10, "ab-0"},
		{"ab", "ab-1", 10, "ab-0"},
		{"ab", "ab-10", 10, "ab-0"},
		{"ab", "ab-100", 10, "ab-90"},
		{"a-b", "a-b-11", 10, "a-b-1"},
	} {
		if got := since(tc.epoch, tc.last, tc.n); got != tc.want {
			t.Errorf("since(%q, %q, %d) = %q, want %q", tc.epoch, tc.last, tc.n, got, tc.want)
		}
	}
}

func TestMarket(t *testing.T) {
	m := newMarket()
	first := m.snapshot()
	now := time.Now()
	for range 1000 {
		for _, q := range m.step(now) {
			if q.Price <= 0 || q.Open <= 0 {
				t.Fatalf("quote %+v", q)
			}
		}
	}
	moved := m.snapshot()
	m2 := newMarket()
	m2.restore(moved)
	for i, s := range m2.snapshot() {
		if s != moved[i] {
			t.Errorf("restored %+v, want %+v", s, moved[i])
		}
		if s.Open != first[i].Open {
			t.Errorf("%s opened at %v, want %v", s.Symbol, s.Open, first[i].Open)
		}
	}
}

// TestDefaultAddr checks the server listens on this machine only unless
// told otherwise, on its own port, and names the URL to open.
func TestDefaultAddr(t *testing.T) {
	host, port, err := net.SplitHostPort(defaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	if !origin.IsLoopbackHost(host) || port != "8080" {
		t.Errorf("default address %q, want a loopback name and port 8080", defaultAddr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	for addr, want := range map[string]string{
		":0":          "localhost:" + p,
		"0.0.0.0:0":   "localhost:" + p,
		"127.0.0.1:0": "127.0.0.1:" + p,
		"[::1]:0":     "[::1]:" + p,
	} {
		if got := examplecmd.ListenURL("http", addr, ln); got != "http://"+want {
			t.Errorf("listenURL for %q = %q, want %q", addr, got, "http://"+want)
		}
	}
}

// TestUnknownSymbol: a stream for a symbol the market does not have is
// refused with 400 and the list of symbols, before any stream is opened.
func TestUnknownSymbol(t *testing.T) {
	leakcheck.Check(t)
	m := newMarket()
	b := sse.NewBroker(brokerOptions(m, nil))
	tk := startTicker(t, m, b)
	for _, q := range []string{"topic=NOPE", "topic=ACME&topic=acme", "topic=" + strings.Repeat("X", 300)} {
		resp, err := http.Get(tk.srv.URL + "/events?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "ACME, GLOBEX") {
			t.Errorf("/events?%.60s: %s %q", q, resp.Status, body)
		}
	}
	if n := b.Stats().Opened; n != 0 {
		t.Errorf("%d streams opened", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, body := openStream(t, ctx, tk.srv.URL+"/events?topic=ACME&topic=WAYNE", "")
	defer body.Close()
	nextQuote(t, r)
}
