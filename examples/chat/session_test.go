package main

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// closed reads what the server sends c until its close frame or a
// welcome, and returns the close code and reason, or that the connection
// was welcomed.
func (c *client) closed() (code int, reason string, welcomed bool) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		r, err := c.conn.NewFrameReader()
		if err != nil {
			c.t.Fatalf("no close frame: %v", err)
		}
		p, _ := io.ReadAll(r)
		switch r.PayloadType() {
		case websocket.CloseFrame:
			if len(p) < 2 {
				return 0, "", welcomed
			}
			return int(binary.BigEndian.Uint16(p)), string(p[2:]), welcomed
		case websocket.TextFrame:
			var f frame
			if json.Unmarshal(p, &f) == nil && f.Type == "welcome" {
				return 0, "", true
			}
		}
	}
}

// issuedBy loads the chat page of srv, as a new tab does, and returns the
// session token it gives.
func issuedBy(t *testing.T, srv string) string {
	t.Helper()
	resp, err := http.Get(srv + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	cfg, ok := configOf(page)
	if !ok || cfg.Session == "" {
		t.Fatalf("no session in the page:\n%s", page)
	}
	return cfg.Session
}

// fillSessions adds sessions with no connection, used just now, from
// addresses other than the tests' until c holds n sessions. c.mu is held.
func fillSessions(t *testing.T, c *chat, n int) {
	for i := 0; len(c.sessions) < n; i++ {
		addr := "198.51.100." + strconv.Itoa(i/MaxSessionsPerAddr)
		if _, err := c.sessionLocked(inboxTopic(newSessionToken(c.key)), addr, time.Now()); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
}

// TestSessionMustBeIssued: a token of the right form that the server did
// not issue gets no session: the connection is closed with 1008 and a
// reason that tells the page to reload, and no nickname is bound. A token
// the page got works, and still works after a restart with the state file.
func TestSessionMustBeIssued(t *testing.T) {
	leakcheck.Check(t)
	state := filepath.Join(t.TempDir(), "state")
	c1 := newChat()
	srv := startChat(t, c1)
	forged := sessionOf(t, newChat(), "mallory") // signed with another key
	page := dial(t, srv, "nick=ann&session="+forged+"&lastEventId=other-epoch-7")
	page.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if r, err := page.conn.NewFrameReader(); err != nil {
		t.Fatal(err)
	} else if r.PayloadType() != websocket.CloseFrame {
		p, _ := io.ReadAll(r)
		t.Errorf("a session the server did not issue got %s before the close", p)
	}
	code, reason, welcomed := dial(t, srv, "nick=ann&session="+forged).closed()
	if welcomed || code != 1008 || reason != errNotIssued.Error() {
		t.Errorf("a session the server did not issue: welcomed %v, closed with %d %q; want 1008 %q", welcomed, code, reason, errNotIssued)
	}
	c1.mu.Lock()
	held, sessions := c1.nicks["ann"], len(c1.sessions)
	c1.mu.Unlock()
	if held != nil || sessions != 0 {
		t.Errorf("a session the server did not issue holds %v (%d sessions)", held, sessions)
	}

	token := issuedBy(t, srv.URL)
	ann := dial(t, srv, "nick=ann&session="+token)
	ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	ann.conn.Close()
	if err := saveState(state, c1); err != nil {
		t.Fatal(err)
	}
	c2 := newChat()
	loadState(state, c2)
	srv2 := startChat(t, c2)
	ann = dial(t, srv2, "nick=ann&session="+token)
	ann.waitFor("welcome after a restart", func(f frame) bool { return f.Type == "welcome" })
}

// TestSessionsBounded: the server remembers at most MaxSessions sessions.
// Past it, a new page's connection is closed with 1013 while every session
// was used within SessionKeep, and nobody's nickname is freed; sessions
// with no connection unused for longer are forgotten to make room, with
// their nicknames.
func TestSessionsBounded(t *testing.T) {
	leakcheck.Check(t)
	c := newChat()
	srv := startChat(t, c)
	old := dial(t, srv, "nick=old")
	old.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	old.conn.Close()
	c.mu.Lock()
	fillSessions(t, c, MaxSessions)
	c.mu.Unlock()
	code, reason, welcomed := dial(t, srv, "nick=ann").closed()
	if welcomed || code != 1013 || reason != errSessionsFull.Error() {
		t.Errorf("a new session past MaxSessions: welcomed %v, closed with %d %q; want 1013 %q", welcomed, code, reason, errSessionsFull)
	}
	code, reason, welcomed = dial(t, srv, "nick=old&session="+issuedBy(t, srv.URL)).closed()
	if welcomed {
		t.Errorf("a new session took the nickname of one with no connection (closed with %d %q)", code, reason)
	}

	c.mu.Lock()
	s := c.nicks["old"]
	s.lastUsed = time.Now().Add(-SessionKeep - time.Minute)
	c.swept = time.Time{}
	c.mu.Unlock()
	ann := dial(t, srv, "nick=ann&session="+issuedBy(t, srv.URL))
	if f := ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" }); f.Nick != "ann" {
		t.Errorf("welcome %+v", f)
	}
	c.mu.Lock()
	n, holder := len(c.sessions), c.nicks["old"]
	c.mu.Unlock()
	if n != MaxSessions || holder != nil {
		t.Errorf("%d sessions, want %d; old still held: %v", n, MaxSessions, holder != nil)
	}
}

// TestSessionFloodKeepsNicknames: a client that makes new sessions as fast
// as it may, from one address and then from many, is refused with 1013
// once past MaxSessionsPerAddr and MaxSessions; it never gets the
// nickname of someone who left, nor the direct messages sent to them, and
// they get those when they come back.
func TestSessionFloodKeepsNicknames(t *testing.T) {
	leakcheck.Check(t)
	c := newChat()
	srv := startChat(t, c)
	ann := dial(t, srv, "nick=ann")
	ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	ann.conn.Close()
	bob := dial(t, srv, "nick=bob")
	bob.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	start := c.hub.Epoch() + "-0"

	// From this address: its sessions up to two short of the bound, then
	// pages of its own, until refused.
	c.mu.Lock()
	for c.byAddr["127.0.0.1"] < MaxSessionsPerAddr-2 {
		if _, err := c.sessionLocked(inboxTopic(newSessionToken(c.key)), "127.0.0.1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Unlock()
	taken := 0
	for i := range 4 {
		code, reason, welcomed := dial(t, srv, "nick=m"+strconv.Itoa(i)+"&session="+issuedBy(t, srv.URL)).closed()
		switch {
		case welcomed:
			taken++
		case code != 1013 || reason != errSessionsAddr.Error():
			t.Errorf("session %d from one address past the bound: closed with %d %q; want 1013 %q", i, code, reason, errSessionsAddr)
		}
	}
	if taken > 2 {
		t.Errorf("%d sessions from one address past MaxSessionsPerAddr", taken-2)
	}

	// From many addresses, up to MaxSessions, and one more.
	c.mu.Lock()
	fillSessions(t, c, MaxSessions)
	delete(c.byAddr, "127.0.0.1") // as if from yet another address
	c.mu.Unlock()
	code, reason, welcomed := dial(t, srv, "nick=zed&session="+issuedBy(t, srv.URL)).closed()
	if welcomed || code != 1013 || reason != errSessionsFull.Error() {
		t.Errorf("a new session past MaxSessions: welcomed %v, closed with %d %q; want 1013 %q", welcomed, code, reason, errSessionsFull)
	}
	for range 3 {
		if _, _, welcomed := dial(t, srv, "nick=ann&session="+issuedBy(t, srv.URL)+"&lastEventId="+start).closed(); welcomed {
			t.Fatal("a flood of sessions took the nickname of someone who left")
		}
	}

	// A friend writes to ann: she gets it when she comes back, and the
	// nickname is still hers.
	bob.send(command{Type: "dm", To: "ann", Text: "new address: 12 Elm St"})
	bob.waitMessage("new address: 12 Elm St")
	ann = dial(t, srv, "nick=ann&lastEventId="+start)
	if f := ann.waitMessage("new address: 12 Elm St"); f.Data.To != "ann" {
		t.Errorf("%+v", f)
	}
}
