package ws

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
)

// noUnwrap is a middleware's ResponseWriter with no Hijack and no Unwrap.
type noUnwrap struct{ w http.ResponseWriter }

func (n noUnwrap) Header() http.Header         { return n.w.Header() }
func (n noUnwrap) Write(p []byte) (int, error) { return n.w.Write(p) }
func (n noUnwrap) WriteHeader(code int)        { n.w.WriteHeader(code) }

// TestHubLogsWhatCannotUpgrade: behind a wrapper that hides Hijack, the
// upgrade is refused with a status and an error log that names the cause.
func TestHubLogsWhatCannotUpgrade(t *testing.T) {
	leakcheck.Check(t)
	var logs testutil.Buffer
	h := NewHub(HubOptions{Conn: AcceptOptions{Logger: logs.Logger()}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(noUnwrap{w}, r)
	}))
	defer srv.Close()
	c, resp, err := wstest.Dial(srv.URL, nil)
	if c != nil {
		c.Close()
		t.Fatal("upgraded through a wrapper that cannot hijack")
	}
	if resp == nil || resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("answer %v (%v), want 501", resp, err)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "Unwrap") {
		t.Errorf("log %q does not name the cause at Error", l)
	}
	if s := h.Stats(); s.Clients != 0 {
		t.Errorf("Stats = %+v, want no connection held", s)
	}
}

// TestHubRetryAfter: a full Hub answers 503 with the Retry-After it was
// given.
func TestHubRetryAfter(t *testing.T) {
	leakcheck.Check(t)
	_, srv := serveHub(t, HubOptions{MaxClients: 1, retryAfter: 1500 * time.Millisecond})
	dial(t, srv.URL, nil)
	_, resp, _ := wstest.Dial(srv.URL, nil)
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("second connection: %v, want 503 with Retry-After: 2", resp)
	}
}

// TestHubMaxClientsPerAddr: one client address cannot take every slot:
// past MaxClientsPerAddr it gets 429 with Retry-After, while another
// client still connects; a closed connection gives its slot back.
func TestHubMaxClientsPerAddr(t *testing.T) {
	leakcheck.Check(t)
	h, srv := serveHub(t, HubOptions{
		MaxClients:        20,
		MaxClientsPerAddr: 3,
		ClientAddr:        func(r *http.Request) string { return r.Header.Get("X-Client") },
	})
	greedy := http.Header{"X-Client": {"greedy"}}
	var held []*wstest.Conn
	for range 3 {
		held = append(held, dial(t, srv.URL, greedy))
	}
	for range 10 {
		c, resp, _ := wstest.Dial(srv.URL, greedy)
		if c != nil {
			c.Close()
			t.Fatal("a 4th connection of one client was upgraded")
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("greedy client's 4th connection: %v, want 429 with Retry-After", resp)
		}
	}
	dial(t, srv.URL, http.Header{"X-Client": {"polite"}})
	held[0].Close()
	waitfor.Cond(t, "the slot given back", waitTimeout, func() bool { return h.Stats().Clients == 3 })
	dial(t, srv.URL, greedy)
	if s := h.Stats(); s.Refused != 10 {
		t.Errorf("Stats = %+v, want 10 refused", s)
	}
}
