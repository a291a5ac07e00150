package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/sse"
)

// nextFeedMessage returns the next event of the feed, failing on a gap.
func nextFeedMessage(t *testing.T, feed *sse.Reader) (sse.Event, event) {
	t.Helper()
	e, err := feed.Next()
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "message" {
		t.Fatalf("the feed sent a %q event %+v, want a room message", e.Type, e)
	}
	var fe event
	if err := json.Unmarshal([]byte(e.Data), &fe); err != nil {
		t.Fatalf("feed event %+v: %v", e, err)
	}
	return e, fe
}

// TestFeedSharesIDs: a room message has the same ID in the room (over
// WebSocket) and in the feed (over SSE), with presence, typing, notices
// and direct messages published between room messages, which the feed
// does not carry and does not count as a gap; and so after a restart with
// the state file, resuming the feed from a room message's ID.
func TestFeedSharesIDs(t *testing.T) {
	leakcheck.Check(t)
	state := filepath.Join(t.TempDir(), "state")
	c := newChat()
	srv := startChat(t, c)
	ann := dial(t, srv, "nick=ann&room=general")
	ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	feed := openFeed(t, srv, "topic=general")
	var last string
	clients := []*client{ann}
	for i := range 3 {
		// Events the feed does not carry, between room messages.
		bob := dial(t, srv, "nick=bob"+strconv.Itoa(i)+"&room=general")
		clients = append(clients, bob)
		bob.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
		bob.send(command{Type: "typing", Room: "general"})
		bob.send(command{Type: "dm", To: "ann", Text: "psst " + strconv.Itoa(i)})
		ann.waitMessage("psst " + strconv.Itoa(i))
		text := "message " + strconv.Itoa(i)
		ann.send(command{Type: "say", Room: "general", Text: text})
		got := ann.waitMessage(text)
		e, fe := nextFeedMessage(t, feed)
		if fe.Text != text || e.ID != got.ID {
			t.Errorf("%q: ID %s in the room, %q with ID %s in the feed; want the same message with the same ID", text, got.ID, fe.Text, e.ID)
		}
		last = got.ID
	}

	for _, cl := range clients {
		cl.conn.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := saveState(state, c); err != nil {
		t.Fatal(err)
	}
	c2 := newChat()
	loadState(state, c2)
	srv2 := startChat(t, c2)
	ann = dial(t, srv2, "nick=ann&room=general")
	ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	feed = openFeed(t, srv2, "topic=general&lastEventId="+last)
	ann.send(command{Type: "say", Room: "general", Text: "after the restart"})
	got := ann.waitMessage("after the restart")
	if e, fe := nextFeedMessage(t, feed); fe.Text != "after the restart" || e.ID != got.ID {
		t.Errorf("after a restart: ID %s in the room, %q with ID %s in the feed", got.ID, fe.Text, e.ID)
	}
}
