package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// storedMsgs returns how many messages the node's stream holds.
func storedMsgs(t *testing.T, n *testNode) uint64 {
	t.Helper()
	info, err := n.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// postPublish posts a JSON publish of data to topic to the node, with the
// headers given as name, value pairs, and returns the answer.
func postPublish(t *testing.T, n *testNode, topic, data string, header ...string) (int, string, http.Header) {
	t.Helper()
	body := fmt.Sprintf(`{"topic":%q,"data":%q}`, topic, data)
	req, _ := http.NewRequest(http.MethodPost, n.url+"/publish", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestPublishGuarded: POST /publish takes the node's token, for a host
// name the node answers to, from a program or a page of its own origin;
// anything else gets 401 or 403 and stores nothing.
func TestPublishGuarded(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	n := startTestNode(t, "a", ns.url(), nil)
	auth := "Bearer " + testToken
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"no token", nil, 401},
		{"wrong token", []string{"Authorization", "Bearer nope"}, 401},
		{"token not as a bearer", []string{"Authorization", testToken}, 401},
		{"a page of another origin", []string{"Authorization", auth, "Origin", "http://evil.example"}, 403},
		{"another port of this host", []string{"Authorization", auth, "Origin", "http://127.0.0.1:1"}, 403},
		{"a foreign host name (DNS rebinding)", []string{"Authorization", auth, "Host", "evil.example"}, 403},
	} {
		code, body, h := postPublish(t, n, "news", "x", tc.header...)
		if code != tc.want {
			t.Errorf("%s: answered %d %q, want %d", tc.name, code, body, tc.want)
		}
		if code == 401 && h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
	if m := storedMsgs(t, n); m != 0 {
		t.Fatalf("refused publishes stored %d messages", m)
	}
	for _, h := range [][]string{{"Authorization", auth}, {"Authorization", auth, "Origin", n.url}} {
		if code, body, _ := postPublish(t, n, "news", "x", h...); code != 200 {
			t.Errorf("publish with %q: %d %s", h, code, body)
		}
	}
}

// TestPublishCrossSiteForm: a page of another origin that auto-submits a
// form to /publish, and one that posts with fetch, in Chromium, store
// nothing.
func TestPublishCrossSiteForm(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	n := startTestNode(t, "a", ns.url(), nil)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" action="%[1]s/publish" target="sink">
<input name="topic" value="news"><input name="data" value="sent by another site">
</form>
<script>
window.formDone = false; window.fetchDone = false;
document.getElementById("sink").onload = () => { window.formDone = true; };
document.getElementById("f").submit();
fetch("%[1]s/publish", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
  body: JSON.stringify({topic: "news", data: "fetched by another site"})}).finally(() => { window.fetchDone = true; });
</script>`, n.url)
	}))
	t.Cleanup(evil.Close)
	b := newBrowser(t)
	p := newTab(t, b, "evil", evil.URL)
	p.waitJS("the form and the fetch to be answered", `window.formDone && window.fetchDone`)
	if m := storedMsgs(t, n); m != 0 {
		t.Fatalf("a page of another site published %d messages", m)
	}
}

// TestPublishKeysScoped: an idempotency key is the publisher's own: a
// publisher that uses another's key first makes no duplicate of the
// other's publish, and each message is delivered.
func TestPublishKeysScoped(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	n := startTestNode(t, "a", ns.url(), func(o *nodeOptions) { o.PublishTokens = []string{testToken, "other-publisher"} })
	c := followSSE(t, n.url, []string{"orders"}, n.epoch+"-0")
	if code, body, _ := postPublish(t, n, "orders", "forged", "Authorization", "Bearer other-publisher", "Idempotency-Key", "order-17"); code != 200 {
		t.Fatalf("first publish: %d %s", code, body)
	}
	code, body, _ := postPublish(t, n, "orders", "real", "Authorization", "Bearer "+testToken, "Idempotency-Key", "order-17")
	if code != 200 || strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("a publish with a key another publisher used first: %d %s", code, body)
	}
	c.waitCount(t, 2)
	if got := c.snapshot(); got[0].data != "forged" || got[1].data != "real" {
		t.Errorf("delivered %+v", got)
	}
	// The same publisher's retry is still a duplicate.
	if _, body, _ := postPublish(t, n, "orders", "real", "Authorization", "Bearer "+testToken, "Idempotency-Key", "order-17"); !strings.Contains(body, `"duplicate":true`) {
		t.Errorf("a retry with the same key and token: %s", body)
	}
}

// TestPublishTopicsBounded: past MaxTopics topics, a publish to a new
// topic gets 503 with Retry-After and stores nothing, while the topics
// held take messages; a topic with no message for DefaultTopicTTL makes
// room.
func TestPublishTopicsBounded(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	const max = 3
	n := startTestNode(t, "a", ns.url(), func(o *nodeOptions) { o.MaxTopics = max })
	auth := []string{"Authorization", "Bearer " + testToken}
	for i := range max {
		if code, body, _ := postPublish(t, n, fmt.Sprint("t", i), "x", auth...); code != 200 {
			t.Fatalf("topic %d: %d %s", i, code, body)
		}
	}
	code, body, h := postPublish(t, n, "one-more", "x", auth...)
	if code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("a new topic past MaxTopics: %d %q (Retry-After %q), want 503 with Retry-After", code, body, h.Get("Retry-After"))
	}
	if code, body, _ := postPublish(t, n, "t0", "y", auth...); code != 200 {
		t.Errorf("a topic held: %d %s", code, body)
	}
	if m := storedMsgs(t, n); m != max+1 {
		t.Errorf("stored %d messages, want %d", m, max+1)
	}
	n.topics.mu.Lock()
	n.topics.last["t1"] = time.Now().Add(-DefaultTopicTTL - time.Second)
	n.topics.mu.Unlock()
	if code, body, _ := postPublish(t, n, "one-more", "x", auth...); code != 200 {
		t.Errorf("a new topic once one expired: %d %s", code, body)
	}
}

// BenchmarkTopicFlood publishes 255 KiB to each of 300 new topics through
// one node (NATS in the same process) and reports how many were stored and
// how much more heap the process holds once the node applied them, with
// the default MaxTopics and with none to speak of:
//
//	cd examples/cluster && go test -run '^$' -bench TopicFlood -benchtime 1x
func BenchmarkTopicFlood(b *testing.B) {
	for _, max := range []int{DefaultMaxTopics, 1 << 20} {
		b.Run(fmt.Sprint("max-topics=", max), func(b *testing.B) {
			for range b.N {
				ns := startNATS(b)
				n := startTestNode(b, "a", ns.url(), func(o *nodeOptions) { o.MaxTopics = max })
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				data := strings.Repeat("x", 255<<10)
				var stored uint64
				for i := range 300 {
					req, _ := http.NewRequest(http.MethodPost, n.url+"/publish", strings.NewReader(fmt.Sprintf(`{"topic":"t%d","data":%q}`, i, data)))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+testToken)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						stored++
					}
				}
				waitfor.Cond(b, "the node to apply what was stored", waitTimeout, func() bool { return n.applied.Load() >= stored })
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(stored), "topics-stored")
				b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "heap-MiB")
			}
		})
	}
}
