package ws

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestHubRefusesDuringShutdown: a request still in its Topics hook when
// Shutdown closed the hub gets 503 with Retry-After and the ws package's
// words, as one that arrives after Shutdown and as a Broker's does: it got
// 503 with the hub's own error text ("hub: closed") and no Retry-After.
func TestHubRefusesDuringShutdown(t *testing.T) {
	leakcheck.Check(t)
	entered, release := make(chan struct{}), make(chan struct{})
	h, srv := serveHub(t, HubOptions{Topics: func(r *http.Request) ([]string, error) {
		close(entered)
		<-release
		return []string{"t"}, nil
	}})
	type answer struct {
		resp *http.Response
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- answer{resp: resp, body: string(b)}
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Shutdown stops waiting for the request at once, and closes the hub
	h.Shutdown(ctx)
	close(release)
	a := <-answered
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.resp.StatusCode != http.StatusServiceUnavailable || a.resp.Header.Get("Retry-After") == "" || strings.Contains(a.body, "hub:") {
		t.Errorf("a request the shutdown caught in its Topics hook: %s, Retry-After %q, body %q; want 503 with Retry-After and the ws package's words",
			a.resp.Status, a.resp.Header.Get("Retry-After"), a.body)
	}
}
