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
	loadState(state, c2)
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

}

// TestStateUnreadable starts chats from state files that cannot be loaded:
// each starts anyway, without history, sets the file aside, and a page that
// resumes gets a gap notice and carries on.
func TestStateUnreadable(t *testing.T) {
	leakcheck.Check(t)
	good := func() []byte {
		state := filepath.Join(t.TempDir(), "state")
		c := newChat()
		srv := startChat(t, c)
		ann := dial(t, srv, "nick=ann&room=general")
		ann.send(command{Type: "say", Room: "general", Text: "before"})
		ann.waitMessage("before")
		ann.conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := c.shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := saveState(state, c); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	first, _, _ := strings.Cut(string(good), "\n")
	for _, tc := range []struct {
		name string
		data []byte
		size int64 // when not zero, the file is made this long
	}{
		{"not a state file", []byte("{}\n12\nnot a history"), 0},
		{"garbage", []byte("\x00\x01garbage"), 0},
		{"cut short", good[:len(good)-10], 0},
		{"huge section length", []byte(first + "\n99999999999\n"), 0},
		{"over MaxStateBytes", []byte(first + "\n"), MaxStateBytes + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.size > 0 {
				if err := os.Truncate(path, tc.size); err != nil {
					t.Fatal(err)
				}
			}
			c := newChat()
			loadState(path, c)
			srv := startChat(t, c)
			ann := dial(t, srv, "nick=ann&room=general&lastEventId=Xk3f-1")
			if f := ann.waitFor("gap notice", func(f frame) bool { return f.Type == "gap" }); f.Reason != "unknown epoch" {
				t.Errorf("gap %+v, want unknown epoch", f)
			}
			ann.send(command{Type: "say", Room: "general", Text: "after"})
			ann.waitMessage("after")
			if _, err := os.Stat(path + ".bad"); err != nil {
				t.Errorf("the file was not set aside: %v", err)
			}
		})
	}
	loadState(filepath.Join(t.TempDir(), "none"), newChat()) // no file: nothing to say
}
