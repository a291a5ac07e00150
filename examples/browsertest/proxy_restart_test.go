package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/sse"
)

// awaitBadEvent waits until the gateway has answered 502 to a request for
// /events, which the page sends once its stream ended with the server.
func awaitBadEvent(t *testing.T, bad <-chan struct{}) {
	t.Helper()
	select {
	case <-bad:
	case <-time.After(waitTimeout):
		t.Fatalf("the page did not ask the proxy for /events within %v of the server stopping", waitTimeout)
	}
}

// TestFeedThroughProxyRestart follows the chat's feed page through a
// reverse proxy while the server restarts: the proxy answers 502 to the
// page's reconnect, on which the browser's EventSource gives up for good;
// the page opens a new one after a backoff, resuming from the last ID it
// holds, and shows what was said after the restart, each message once.
func TestFeedThroughProxyRestart(t *testing.T) {
	leakcheck.Check(t)
	bin := buildExample(t, "chat")
	state := filepath.Join(t.TempDir(), "chat.state")
	srv := startServer(t, bin, "-state", state)
	gw := startGateway(t, srv.addr)
	b := newBrowser(t)

	ann := chatPage(t, b, srv, "ann")
	feed := newTab(t, b, "feed", gw.url("/feed")) // general, the default room
	feed.waitJS("the feed to go live", `feed.state === "live"`)
	ann.say("Before the restart")
	feed.waitJS("the message in the feed", `feed.texts.includes("Before the restart")`)

	opens := eval[int](ann, `chat.opens`)
	bad := gw.nextBadEvent()
	srv.stop()
	awaitBadEvent(t, bad)
	feed.waitJS("the feed to say it reconnects", `feed.state === "reconnecting" &&
		document.getElementById("status").textContent.includes("Reconnecting")`)
	srv.start()
	ann.waitJS("ann back", fmt.Sprintf(`chat.opens > %d && chat.state === "live"`, opens))
	ann.say("After the restart")
	feed.waitJS("the message said after the restart", `feed.texts.includes("After the restart")`)
	want := []string{"Before the restart", "After the restart"}
	if got := eval[[]string](feed, `feed.texts`); !slices.Equal(got, want) {
		t.Errorf("feed through the restart:\n got %q\nwant %q", got, want)
	}
	if d := eval[int](feed, `feed.duplicates + feed.gaps.length`); d != 0 {
		t.Errorf("feed: %d duplicates or gaps across a restart with history", d)
	}
	feed.waitJS("the feed live again", `feed.state === "live"`)
}

// readmeSSESnippet returns the JavaScript of the README's SSE quickstart.
func readmeSSESnippet(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Quickstart: SSE\n.*?\n```js\n(.*?)\n```\n").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no js block in its SSE quickstart")
	}
	return string(m[1])
}

// snippetPage is a page that runs the README's snippet and keeps what it
// logs in window.got (console.log) and window.warned (console.warn).
var snippetPage = template.Must(template.New("").Parse(`<!doctype html>
<meta charset="utf-8"><title>README snippet</title>
<script>
window.got = [];
window.warned = [];
console.log = (...a) => window.got.push(a.map(String));
console.warn = (...a) => window.warned.push(a.map(String));
</script>
<script>{{.}}</script>
`))

// snippetServer is the README's SSE quickstart as a server: the Broker at
// /events and a page with the README's snippet at /.
type snippetServer struct {
	t      *testing.T
	addr   string
	broker *sse.Broker
	srv    *http.Server
	done   chan struct{}
}

// start serves on s.addr ("127.0.0.1:0" the first time) with a Broker
// that holds history (nil for none).
func (s *snippetServer) start(page []byte, history []byte) {
	t := s.t
	t.Helper()
	s.broker = sse.NewBroker(sse.BrokerOptions{})
	if history != nil {
		if err := s.broker.LoadHistory(bytes.NewReader(history)); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/events", s.broker)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(startTimeout); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen on %s: %v", s.addr, err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
}

// stop ends the streams and the server and returns the Broker's history.
func (s *snippetServer) stop() []byte {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	s.broker.Shutdown(ctx)
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("Shutdown: %v", err)
	}
	<-s.done
	var b bytes.Buffer
	if err := s.broker.SaveHistory(&b); err != nil {
		s.t.Fatal(err)
	}
	return b.Bytes()
}

// TestReadmeSnippetThroughProxyRestart runs the README's SSE snippet in a
// page behind a reverse proxy while the server restarts with its history:
// the proxy answers 502 to the browser's reconnect, and the snippet opens
// a new EventSource that resumes after the last event it logged, so every
// tick is logged once, in order.
func TestReadmeSnippetThroughProxyRestart(t *testing.T) {
	leakcheck.Check(t)
	var page bytes.Buffer
	if err := snippetPage.Execute(&page, template.JS(readmeSSESnippet(t))); err != nil {
		t.Fatal(err)
	}
	s := &snippetServer{t: t, addr: "127.0.0.1:0"}
	s.start(page.Bytes(), nil)
	t.Cleanup(func() {
		if s.srv != nil {
			s.stop()
		}
	})
	gw := startGateway(t, s.addr)
	tab := newTab(t, newBrowser(t), "snippet", gw.url("/"))
	tick := func(data string) {
		t.Helper()
		if _, err := s.broker.Publish("time", sse.Event{Type: "tick", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	// The stream is open once the Broker counts it; a tick before that
	// would go to history only, which a first connection does not ask for.
	for deadline := time.Now().Add(waitTimeout); s.broker.Stats().Clients == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the snippet opened no stream within %v", waitTimeout)
		}
	}
	tick("1")
	tick("2")
	tab.waitJS("the first ticks", `got.length === 2`)

	bad := gw.nextBadEvent()
	history := s.stop()
	awaitBadEvent(t, bad)
	s.start(page.Bytes(), history)
	tick("3") // before the page is back: it comes as a replay
	tab.waitJS("the tick published while the page was away", `got.some(a => a[0] === "3")`)
	tick("4")
	tab.waitJS("the tick after the page is back", `got.some(a => a[0] === "4")`)
	got := eval[[]string](tab, `got.map(a => a[0])`)
	if want := []string{"1", "2", "3", "4"}; !slices.Equal(got, want) {
		t.Errorf("the snippet logged %q, want %q: each tick once, in order", got, want)
	}
	if w := eval[[]string](tab, `warned.map(a => a.join(" "))`); len(w) != 0 {
		t.Errorf("the snippet warned of missed events across a restart with history: %q", w)
	}
}

// TestTickerThroughProxyRestart follows the ticker's page through a
// reverse proxy while the server restarts with its history: the proxy
// answers 502 to the page's reconnect, and the page opens a new
// EventSource after a backoff that resumes from the last ID it holds, so
// it shows every event once, in order, across the restart.
func TestTickerThroughProxyRestart(t *testing.T) {
	leakcheck.Check(t)
	bin := buildExample(t, "ticker")
	state := filepath.Join(t.TempDir(), "ticker.state")
	srv := startServer(t, bin, "-state", state, "-every", tickerEvery)
	gw := startGateway(t, srv.addr)
	page := newTab(t, newBrowser(t), "ticker", gw.url("/"))
	page.waitJS("the page to go live", `window.ticker && ticker.state === "live" && ticker.count > 0`)

	bad := gw.nextBadEvent()
	srv.stop()
	awaitBadEvent(t, bad)
	page.waitJS("the indicator to say reconnecting", `ticker.state === "reconnecting" &&
		document.getElementById("status").textContent.includes("Reconnecting")`)
	srv.start()
	last := srv.lastLog(savedLast)
	if last == "" {
		t.Fatal("the ticker did not log the last id it saved")
	}
	_, lastSeq, err := parseID(last)
	if err != nil {
		t.Fatal(err)
	}
	page.waitJS("events after the restart", fmt.Sprintf(`ticker.state === "live" && ticker.ids.length > 0 &&
		Number(ticker.ids[ticker.ids.length-1].split("-").pop()) >= %d`, lastSeq+20))
	ids := eval[[]string](page, `ticker.ids`)
	if err := checkRun(ids); err != nil {
		t.Fatalf("across a restart behind a proxy: %v", err)
	}
	if !slices.Contains(ids, last) {
		t.Fatalf("the page does not hold %s, the last event before the restart", last)
	}
	if g := eval[int](page, `ticker.gaps.length + ticker.duplicates`); g != 0 {
		t.Fatalf("a restart with history showed %d gap(s) or duplicate(s)", g)
	}
}
