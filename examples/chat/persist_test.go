package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/sse"
)

// TestStateRestart saves a chat's history, starts a new chat from it, and
// checks that a page and a feed resume across the two without a gap.
func TestStateRestart(t *testing.T) {
	leakcheck.Check(t)
	state := filepath.Join(t.TempDir(), "state")
	c1 := newChat()
	srv := startChat(t, c1)
	ann := dial(t, srv, "nick=ann&room=general")
	ann.send(command{Type: "say", Room: "general", Text: "before"})
	last := ann.waitMessage("before").ID
	ann.conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c1.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := saveState(state, c1); err != nil {
		t.Fatal(err)
	}
	c1.mu.Lock()
	lastFeed := c1.lastFeed
	c1.mu.Unlock()

	c2 := newChat()
	if err := loadState(state, c2); err != nil {
		t.Fatal(err)
	}
	srv2 := startChat(t, c2)
	bob := dial(t, srv2, "nick=bob&room=general")
	bob.send(command{Type: "say", Room: "general", Text: "after"})
	bob.waitMessage("after")

	// ann comes back: she gets "after" and nothing before it again.
	ann = dial(t, srv2, "nick=ann&room=general&lastEventId="+last)
	if texts := ann.messages(1); texts[0] != "after" {
		t.Fatalf("resumed with %q, want after", texts[0])
	}

	// So does the feed.
	req, _ := http.NewRequestWithContext(ctx, "GET", srv2.URL+"/events?topic=general", nil)
	req.Header.Set("Last-Event-ID", lastFeed)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	e, err := sse.NewReader(resp.Body).Next()
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "message" || !strings.Contains(e.Data, `"text":"after"`) {
		t.Fatalf("feed resumed with %s %s", e.Type, e.Data)
	}

	// A state file that is not one fails the start, with the file named.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("{}\n12\nnot a history"), 0o644)
	if err := loadState(bad, newChat()); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("loading a bad state file: %v", err)
	}
	if err := loadState(filepath.Join(t.TempDir(), "none"), newChat()); err != nil {
		t.Errorf("loading a missing state file: %v", err)
	}
}
