package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// frames reads what the server sends c until it closes the connection or
// waitTimeout passes, and returns it.
func (c *client) frames() []frame {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	var out []frame
	for {
		var f frame
		if err := websocket.JSON.Receive(c.conn, &f); err != nil {
			if !errors.Is(err, io.EOF) {
				c.t.Fatalf("the server did not close the connection: %v", err)
			}
			return out
		}
		out = append(out, f)
	}
}

// TestDMsStayPrivate: a page that connects with someone else's nickname and
// asks to resume from the start of the history gets neither the nickname
// nor their direct messages; one that uses its own nickname gets none of
// the others' direct messages either.
func TestDMsStayPrivate(t *testing.T) {
	leakcheck.Check(t)
	c := newChat()
	srv := startChat(t, c)
	ann := dial(t, srv, "nick=ann")
	bob := dial(t, srv, "nick=bob")
	ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" }) // ann holds her nickname
	bob.send(command{Type: "dm", To: "ann", Text: "my password is hunter2"})
	ann.waitMessage("my password is hunter2")
	bob.waitMessage("my password is hunter2") // the sender's copy
	start := c.hub.Epoch() + "-0"

	check := func(name string, frames []frame) {
		t.Helper()
		for _, f := range frames {
			if f.Data != nil && f.Data.Type == "dm" {
				t.Errorf("%s got a direct message of others: %+v %+v", name, f, *f.Data)
			}
			if f.Type == "welcome" && f.Nick == "ann" {
				t.Errorf("%s was welcomed as ann", name)
			}
		}
	}
	// While ann is connected, and after she left.
	mallory := dial(t, srv, "nick=ann&session="+sessionOf(t, chatOf(t, srv), "mallory")+"&lastEventId="+start)
	check("a page claiming ann's nickname", mallory.frames())
	ann.conn.Close()
	mallory = dial(t, srv, "nick=ann&session="+sessionOf(t, chatOf(t, srv), "mallory")+"&lastEventId="+start)
	check("a page claiming ann's nickname after she left", mallory.frames())

	// Under her own name, mallory gets the history of her own inbox only.
	mallory = dial(t, srv, "nick=mallory&lastEventId="+start)
	mallory.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	mallory.send(command{Type: "dm", To: "mallory", Text: "note to self"})
	var seen []frame
	for f := mallory.next(); f.Data == nil || f.Data.Text != "note to self"; f = mallory.next() {
		seen = append(seen, f)
	}
	check("mallory", seen)

	// ann comes back in her own tab: her direct messages are there.
	ann = dial(t, srv, "nick=ann&lastEventId="+start)
	ann.waitMessage("my password is hunter2")
}

// TestRateLimitAcrossReconnects: a client that reconnects after each burst,
// with the same session or a new one each time, cannot send faster than
// the stated rates. Every message sent is answered (published back to the
// room, which the sender is in, or refused with an error), so the test
// counts exactly what went through.
func TestRateLimitAcrossReconnects(t *testing.T) {
	for _, tc := range []struct {
		name        string
		newSession  bool
		rate, burst float64
	}{
		{"same session", false, MessagesPerSecond, MessageBurst},
		{"new session each time", true, AddrMessagesPerSecond, AddrMessageBurst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			srv := startChat(t, newChat())
			const rounds = 30
			published := 0
			start := time.Now()
			for i := range rounds {
				q := "nick=spam&room=general"
				if tc.newSession {
					q = "nick=spam" + strconv.Itoa(i) + "&room=general"
				}
				published += burst(t, srv, q, MessageBurst)
			}
			elapsed := time.Since(start)
			limit := int(tc.burst + tc.rate*elapsed.Seconds())
			t.Logf("%d rounds of %d messages in %v: %d went through (limit %d)", rounds, MessageBurst, elapsed, published, limit)
			if published > limit {
				t.Errorf("%d messages went through in %v: over the stated %v/s with bursts of %v (%d)",
					published, elapsed, tc.rate, tc.burst, limit)
			}
		})
	}
}

// burst connects with the query, sends n room messages, waits for the
// answer to each, closes, and returns how many were published. A
// connection the server closes at once (too many from this address)
// publishes nothing.
func burst(t *testing.T, srv *httptest.Server, query string, n int) int {
	t.Helper()
	c := dial(t, srv, query)
	defer c.conn.Close()
	for i := range n {
		c.send(command{Type: "say", Room: "general", Text: "spam " + strconv.Itoa(i)})
	}
	published := 0
	c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for answered := 0; answered < n; {
		var f frame
		if err := websocket.JSON.Receive(c.conn, &f); err != nil {
			if errors.Is(err, io.EOF) {
				return published // closed: the rest was not read
			}
			t.Fatalf("receive: %v", err)
		}
		switch {
		case f.Type == "error":
			answered++
		case f.Data != nil && f.Data.Type == "message" && f.Data.Text[:5] == "spam ":
			answered++
			published++
		}
	}
	return published
}

// TestRoomsBounded: once MaxRooms rooms are in use, joining or connecting
// to a new room is refused with a clear answer, and existing rooms work.
func TestRoomsBounded(t *testing.T) {
	leakcheck.Check(t)
	c := newChat()
	srv := startChat(t, c)
	ann := dial(t, srv, "nick=ann&room=general")
	ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	// Fill the table as MaxRooms rooms opened just now from many addresses
	// would.
	c.mu.Lock()
	for i := len(c.known); len(c.known) < MaxRooms; i++ {
		if err := c.useRoomLocked("room-"+strconv.Itoa(i), "192.0.2."+strconv.Itoa(i%250), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Unlock()
	ann.send(command{Type: "join", Room: "one-more"})
	if f := ann.waitError(codeRoomsFull); f.Code != codeRoomsFull {
		t.Errorf("joining room %d: %+v", MaxRooms+1, f)
	}
	if _, err := websocket.Dial("ws"+srv.URL[len("http"):]+"/ws?nick=bob&room=another&session="+sessionOf(t, chatOf(t, srv), "bob"), "", srv.URL); err == nil {
		t.Errorf("connecting to room %d: accepted", MaxRooms+1)
	}
	ann.send(command{Type: "say", Room: "general", Text: "still fine"})
	ann.waitMessage("still fine")

	// A request that is not a WebSocket handshake takes no room.
	c.mu.Lock()
	delete(c.known, "room-0")
	c.mu.Unlock()
	resp, err := http.Get(srv.URL + "/ws?nick=eve&room=squat&session=" + sessionOf(t, chatOf(t, srv), "eve"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.mu.Lock()
	_, squat := c.known["squat"]
	c.mu.Unlock()
	if squat {
		t.Error("a request refused before the upgrade took a room")
	}

	// Rooms nobody is in make room once their history is gone.
	c.mu.Lock()
	for r := range c.known {
		if r != "general" {
			c.known[r].last = time.Now().Add(-roomForget - time.Second)
		}
	}
	c.mu.Unlock()
	ann.send(command{Type: "join", Room: "one-more"})
	ann.waitFor("joined notice", func(f frame) bool {
		return f.Data != nil && f.Data.Type == "notice" && f.Data.Room == "one-more"
	})
}

// TestOneNickPerSession: a session connected as one nickname cannot open a
// connection as another, which would free the first for someone else while
// its connection still speaks as it. Once its connections are closed, it
// may change nickname, and the old one is free.
func TestOneNickPerSession(t *testing.T) {
	leakcheck.Check(t)
	c := newChat()
	srv := startChat(t, c)
	sess := "&session=" + sessionOf(t, chatOf(t, srv), "mallory")
	welcomed := func(fs []frame) bool {
		for _, f := range fs {
			if f.Type == "welcome" {
				return true
			}
		}
		return false
	}
	x := dial(t, srv, "nick=x&room=general"+sess)
	x.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	if welcomed(dial(t, srv, "nick=y&room=general"+sess).frames()) {
		t.Error("a connected session was welcomed under a second nickname")
	}
	if welcomed(dial(t, srv, "nick=x&room=general").frames()) {
		t.Error("another session took the nickname of a connected one")
	}
	x.conn.Close()
	for c.hub.Stats().Clients != 0 {
		time.Sleep(5 * time.Millisecond) // no event to wait on: poll
	}
	y := dial(t, srv, "nick=y&room=general"+sess)
	if f := y.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" }); f.Nick != "y" {
		t.Errorf("welcome %+v", f)
	}
	other := dial(t, srv, "nick=x&room=general")
	if f := other.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" }); f.Nick != "x" {
		t.Errorf("the freed nickname: welcome %+v", f)
	}
}

// TestRoomsPerAddress: one remote address may open MaxRoomsPerAddr rooms;
// past it, opening another is refused with a clear answer, while it can
// still join rooms that exist and other addresses can still open rooms.
func TestRoomsPerAddress(t *testing.T) {
	leakcheck.Check(t)
	c := newChat()
	srv := startChat(t, c)
	opened := 0
	for i := 0; opened < MaxRoomsPerAddr; i++ {
		q := "nick=ann" + strconv.Itoa(i)
		for j := 0; j < MaxRoomsPerConn && opened < MaxRoomsPerAddr; j++ {
			q += "&room=r" + strconv.Itoa(opened)
			opened++
		}
		dial(t, srv, q).waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	}
	bob := dial(t, srv, "nick=bob&room=r0")
	bob.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	bob.send(command{Type: "join", Room: "one-more"})
	if f := bob.waitError(codeRoomsFull); f.Code != codeRoomsFull || !strings.Contains(f.Error, "your address") {
		t.Errorf("opening room %d from one address: %+v", MaxRoomsPerAddr+1, f)
	}
	bob.send(command{Type: "join", Room: "r1"})
	bob.waitFor("joined notice", func(f frame) bool {
		return f.Data != nil && f.Data.Type == "notice" && f.Data.Room == "r1" && f.Data.Nick == "bob"
	})
	c.mu.Lock()
	err := c.useRoomLocked("elsewhere", "192.0.2.1", time.Now())
	c.mu.Unlock()
	if err != nil {
		t.Errorf("another address opening a room: %v", err)
	}
}

// TestNicksSurviveRestart: the nicknames held are saved with the state, so
// that after a restart a page of another session cannot take one before
// its holder comes back, and the holder resumes its direct messages.
func TestNicksSurviveRestart(t *testing.T) {
	leakcheck.Check(t)
	state := filepath.Join(t.TempDir(), "state")
	c1 := newChat()
	srv := startChat(t, c1)
	ann := dial(t, srv, "nick=ann")
	ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	bob := dial(t, srv, "nick=bob")
	bob.send(command{Type: "dm", To: "ann", Text: "see you after the restart"})
	ann.waitMessage("see you after the restart")
	start := c1.hub.Epoch() + "-0"
	ann.conn.Close()
	bob.conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c1.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := saveState(state, c1); err != nil {
		t.Fatal(err)
	}

	c2 := newChat()
	loadState(state, c2)
	srv2 := startChat(t, c2)
	for _, f := range dial(t, srv2, "nick=ann&session="+sessionOf(t, chatOf(t, srv2), "mallory")+"&lastEventId="+start).frames() {
		if f.Type == "welcome" || f.Data != nil && f.Data.Type == "dm" {
			t.Errorf("another session claiming ann after the restart got %+v", f)
		}
	}
	ann = dial(t, srv2, "nick=ann&lastEventId="+start)
	ann.waitMessage("see you after the restart")
}

// TestMembersListed: a page entering a crowded room gets at most
// MaxMembersListed nicknames, itself among them, and the count of all.
func TestMembersListed(t *testing.T) {
	leakcheck.Check(t)
	c := newChat()
	srv := startChat(t, c)
	const crowd = MaxMembersListed + 50
	c.mu.Lock()
	for i := range crowd {
		c.enter("general", "n"+strconv.Itoa(i))
	}
	c.mu.Unlock()
	check := func(what string, f frame) {
		t.Helper()
		list := f.Members["general"]
		if len(list) > MaxMembersListed || !slices.Contains(list, "ann") || f.Counts["general"] != crowd+1 {
			t.Errorf("%s: %d names (ann among them: %v), count %d; want at most %d with ann, and %d",
				what, len(list), slices.Contains(list, "ann"), f.Counts["general"], MaxMembersListed, crowd+1)
		}
	}
	ann := dial(t, srv, "nick=ann&room=general")
	check("welcome", ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" }))
	ann.send(command{Type: "leave", Room: "general"})
	ann.send(command{Type: "join", Room: "general"})
	check("members after a join", ann.waitFor("members", func(f frame) bool { return f.Type == "members" }))
}
