package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// pageMsg is a message published with a page's form: the ID the page
// says it was stored as, and what was published.
type pageMsg struct {
	id, topic, data string
}

// publishFromPage publishes data to topic with the page's form, as a
// person does, and returns what the page says it was stored as.
func (tb *tab) publishFromPage(topic, data string) pageMsg {
	tb.t.Helper()
	before := eval[string](tb, `document.getElementById("published").textContent`)
	tb.do("choose "+topic, chromedp.SetValue(chromedp.CSS("#topic"), topic), chromedp.SetValue(chromedp.CSS("#token"), testToken))
	tb.do("type "+data, chromedp.SendKeys(chromedp.CSS("#data"), data+kb.Enter))
	tb.waitJS("the publish of "+data+" to be stored", fmt.Sprintf(`(() => {
		const s = document.getElementById("published").textContent;
		return s !== %s && s.startsWith("stored as ");
	})()`, jsString(before)))
	got := eval[string](tb, `document.getElementById("published").textContent`)
	id := strings.TrimPrefix(got, "stored as ")
	if strings.ContainsAny(id, " ()") {
		tb.t.Fatalf("%s: published %q: the page says %q", tb.name, data, got)
	}
	return pageMsg{id: id, topic: topic, data: data}
}

// waitShown waits until both feeds of the page hold m: in window.cluster
// and on screen, with its ID, its text and (for the WebSocket, which
// knows it) its topic.
func (tb *tab) waitShown(m pageMsg) {
	tb.t.Helper()
	tb.waitJS(m.data+" in both feeds", fmt.Sprintf(`(() => {
		const id = %s, topic = %s, data = %s;
		const row = (log) => [...document.querySelectorAll(log + " li:not(.gap)")].find(li => li.querySelector(".id").textContent === id);
		const sse = row("#sse-log"), ws = row("#ws-log");
		return cluster.sse.includes(id) && cluster.ws.includes(id) &&
			sse && sse.textContent.endsWith(data) &&
			ws && ws.querySelector(".topic").textContent === topic && ws.textContent.endsWith(data);
	})()`, jsString(m.id), jsString(m.topic), jsString(m.data)))
}

// checkFeeds fails the test unless both feeds of the page hold exactly
// the IDs of want, in order, once each, with no gap.
func (tb *tab) checkFeeds(want []pageMsg) {
	tb.t.Helper()
	ids := make([]string, len(want))
	for i, m := range want {
		ids[i] = m.id
	}
	for _, feed := range []string{"sse", "ws"} {
		got := eval[[]string](tb, "cluster."+feed)
		if !slices.Equal(got, ids) {
			tb.t.Errorf("%s: %s feed holds %q, want %q", tb.name, feed, got, ids)
		}
		if n := eval[int](tb, "cluster.gaps."+feed); n != 0 {
			tb.t.Errorf("%s: %s feed shows %d gap(s)", tb.name, feed, n)
		}
	}
}

// waitNode waits until the page says, in its title, its WebSocket feed
// and its health, that node name serves it, with both feeds open.
func (tb *tab) waitNode(name string) {
	tb.t.Helper()
	tb.waitJS("node "+name+" on the page, both feeds open", fmt.Sprintf(`(() => {
		const $ = (id) => document.getElementById(id), name = %s;
		return $("node").textContent === name && $("ws-node").textContent === name &&
			$("sse-state").textContent === "open" && $("ws-state").textContent === "open" &&
			$("health").dataset.state === "ready" && $("health").textContent.includes(" · " + name + " · ");
	})()`, jsString(name)))
}

// badGateway stands in for a load balancer with no node behind it: it
// answers 502 to every request.
type badGateway struct {
	srv    *http.Server
	done   chan struct{}
	events chan struct{} // closed at the first request for /events
}

// startBadGateway serves 502 on addr until close or the end of the test.
func startBadGateway(t testing.TB, addr string) *badGateway {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("bad gateway: %v", err)
	}
	g := &badGateway{done: make(chan struct{}), events: make(chan struct{})}
	var once sync.Once
	g.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			once.Do(func() { close(g.events) })
		}
		http.Error(w, "no node behind the load balancer", http.StatusBadGateway)
	})}
	go func() {
		defer close(g.done)
		if err := g.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("bad gateway: %v", err)
		}
	}()
	t.Cleanup(g.close)
	return g
}

// close stops the gateway and waits until it no longer serves.
func (g *badGateway) close() {
	g.srv.Close()
	<-g.done
}

// TestPageTwoNodes opens the pages of two nodes of one stream in headless
// Chromium. A message published with page b's form shows in both feeds of
// both pages, with the same ID. Node a is killed while its page is open:
// the page says it is reconnecting; once a node serves a's address again,
// page a's feeds resume with exactly what was published through b
// meanwhile, each message once, also after a load balancer's 502 in
// between (on which an EventSource stops for good).
func TestPageTwoNodes(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	b := startTestNode(t, "b", ns.url(), nil)
	a.waitReady(t)
	b.waitReady(t)
	addrA := strings.TrimPrefix(a.url, "http://")

	browser := newBrowser(t)
	pageA := newTab(t, browser, "page a", a.url+"/")
	pageB := newTab(t, browser, "page b", b.url+"/")
	pageA.waitNode("a")
	pageB.waitNode("b")

	first := pageB.publishFromPage("news", "hello from b")
	pageA.waitShown(first)
	pageB.waitShown(first)
	want := []pageMsg{first}
	pageA.checkFeeds(want)
	pageB.checkFeeds(want)

	// Node a dies with its connections: page a says so.
	a.kill(t)
	pageA.waitJS("page a to show it is reconnecting", `(() => {
		const $ = (id) => document.getElementById(id);
		return $("sse-state").textContent === "reconnecting" && $("ws-state").textContent === "reconnecting" &&
			$("ws-node").textContent === "—" && $("health").dataset.state === "down";
	})()`)

	// Meanwhile, b's page publishes, on both topics.
	for i, topic := range []string{"prices.EUR > USD", "news", "prices.EUR > USD"} {
		m := pageB.publishFromPage(topic, fmt.Sprintf("while a is down %d", i))
		pageB.waitShown(m)
		want = append(want, m)
	}
	pageA.checkFeeds(want[:1])

	// A load balancer in front of a, with no node behind it, answers
	// 502: an EventSource gives up for good on such an answer, and the
	// page has to open another one.
	gateway := startBadGateway(t, addrA)
	select {
	case <-gateway.events:
	case <-time.After(pageWaitTimeout):
		t.Fatalf("page a's EventSource did not try %s again within %v", addrA, pageWaitTimeout)
	}
	gateway.close()

	// A node on a's address: page a's feeds come back by themselves with
	// what they missed, once.
	startTestNodeAt(t, "a", ns.url(), addrA, nil)
	pageA.waitNode("a")
	for _, m := range want[1:] {
		pageA.waitShown(m)
	}
	pageA.checkFeeds(want)
	pageB.checkFeeds(want)

	// And the page of the new node publishes to both.
	last := pageA.publishFromPage("news", "hello again from a")
	pageA.waitShown(last)
	pageB.waitShown(last)
	want = append(want, last)
	pageA.checkFeeds(want)
	pageB.checkFeeds(want)
}
