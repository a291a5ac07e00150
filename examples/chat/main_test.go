package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/origin"
	"github.com/realtime-go/realtime/sse"
)

// waitTimeout bounds every wait of these tests for something to arrive.
const waitTimeout = 5 * time.Second

// startChat runs a chat on a real socket of 127.0.0.1 until the test ends.
func startChat(t *testing.T, c *chat) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newHandler(c))
	served.Store(srv, c)
	t.Cleanup(func() {
		served.Delete(srv)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := c.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return srv
}

// openFeed opens /events with the query, as the feed page does, and
// returns its events. The stream is closed when the test ends, and cut if
// it is still open after waitTimeout.
func openFeed(t *testing.T, srv *httptest.Server, query string) *sse.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events?"+query, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events?%s: %s", query, resp.Status)
	}
	return sse.NewReader(resp.Body)
}

// A frame is anything the server sends on /ws: an envelope (ID, Topic,
// Data), a reply (Type "welcome" or "error") or a gap notice (Type "gap").
type frame struct {
	ID          string              `json:"id"`
	Topic       string              `json:"topic"`
	Data        *event              `json:"data"`
	Type        string              `json:"type"`
	Nick        string              `json:"nick"`
	Rooms       []string            `json:"rooms"`
	Members     map[string][]string `json:"members"`
	Counts      map[string]int      `json:"counts"`
	Code        string              `json:"code"`
	Error       string              `json:"error"`
	Reason      string              `json:"reason"`
	LastEventID string              `json:"lastEventId"`
}

// A client is one page's connection, as a Go program.
type client struct {
	t    *testing.T
	conn *websocket.Conn
}

// sessionOf returns the session token c issues to the page of nick in
// test t: the same for every connection of nick in t, as for the tabs of
// one page.
func sessionOf(t *testing.T, c *chat, nick string) string {
	sum := sha256.Sum256([]byte(t.Name() + "\x00" + nick))
	return signSession(c.key, sum[:sessionRandBytes])
}

// served maps each server of startChat to its chat, for dial.
var served sync.Map // *httptest.Server -> *chat

// chatOf returns the chat srv serves.
func chatOf(t *testing.T, srv *httptest.Server) *chat {
	c, ok := served.Load(srv)
	if !ok {
		t.Fatalf("%s was not started by startChat", srv.URL)
	}
	return c.(*chat)
}

// dial connects to /ws with the query, as a page of the server's origin.
// Unless the query has a session, it gets the one of its nickname.
func dial(t *testing.T, srv *httptest.Server, query string) *client {
	t.Helper()
	if q, _ := url.ParseQuery(query); !q.Has("session") {
		query += "&session=" + sessionOf(t, chatOf(t, srv), q.Get("nick"))
	}
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?" + query
	conn, err := websocket.Dial(url, "", srv.URL)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn}
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := websocket.JSON.Send(c.conn, v); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) sendText(s string) {
	c.t.Helper()
	if err := websocket.Message.Send(c.conn, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next returns the next frame, waiting at most waitTimeout.
func (c *client) next() frame {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	var s string
	if err := websocket.Message.Receive(c.conn, &s); err != nil {
		c.t.Fatalf("receive: %v", err)
	}
	var f frame
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		c.t.Fatalf("frame %s: %v", s, err)
	}
	return f
}

// waitFor returns the first frame that matches, skipping the others.
func (c *client) waitFor(what string, match func(frame) bool) frame {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if f := c.next(); match(f) {
			return f
		}
	}
	c.t.Fatalf("no %s within %v", what, waitTimeout)
	return frame{}
}

func (c *client) waitMessage(text string) frame {
	c.t.Helper()
	return c.waitFor("message "+text, func(f frame) bool {
		return f.Data != nil && (f.Data.Type == "message" || f.Data.Type == "dm") && f.Data.Text == text
	})
}

// messages returns the texts of the next n room messages, skipping other
// frames, and fails the test on a gap notice.
func (c *client) messages(n int) []string {
	c.t.Helper()
	var texts []string
	for len(texts) < n {
		f := c.next()
		if f.Type == "gap" {
			c.t.Fatalf("gap: %+v", f)
		}
		if f.Data != nil && f.Data.Type == "message" {
			texts = append(texts, f.Data.Text)
		}
	}
	return texts
}

func (c *client) waitError(code string) frame {
	c.t.Helper()
	return c.waitFor("error "+code, func(f frame) bool { return f.Type == "error" })
}

func TestPages(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	for _, tc := range []struct{ path, ctype string }{
		{"/", "text/html"},
		{"/feed?room=general", "text/html"},
		{"/ws/client.js", "text/javascript"},
		{"/static/chat.js", "text/javascript"},
		{"/static/feed.js", "text/javascript"},
		{"/static/style.css", "text/css"},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %s %s", tc.path, resp.Status, resp.Header.Get("Content-Type"))
		}
		if tc.ctype == "text/html" {
			if cfg, ok := configOf(body); !ok || cfg.MaxMessageRunes != MaxMessageRunes || len(cfg.Rooms) == 0 {
				t.Errorf("GET %s: no usable config in the page", tc.path)
			}
		}
	}
	resp, err := http.Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %s", resp.Status)
	}
}

// configOf returns the config a page holds.
func configOf(page []byte) (cfg pageConfig, ok bool) {
	m := regexp.MustCompile(`(?s)<script id="config" type="application/json">(.*?)</script>`).FindSubmatch(page)
	return cfg, m != nil && json.Unmarshal(m[1], &cfg) == nil
}

// TestPatterns checks that the rules the pages check agree with the
// server's.
func TestPatterns(t *testing.T) {
	nick, room := regexp.MustCompile(nickPattern), regexp.MustCompile(roomPattern)
	for _, s := range []string{"", "a", "ann", "Ann_B-2", "-x", "x-", "a b", "é", "ann!", "general", "gen-eral",
		"0", strings.Repeat("a", MaxNickLength), strings.Repeat("a", MaxNickLength+1),
		strings.Repeat("a", MaxRoomLength), strings.Repeat("a", MaxRoomLength+1), "GENERAL", "#general", "a\n"} {
		if got, want := nick.MatchString(s), validNick(s); got != want {
			t.Errorf("nick %q: pattern says %v, server %v", s, got, want)
		}
		if got, want := room.MatchString(s), validRoom(s); got != want {
			t.Errorf("room %q: pattern says %v, server %v", s, got, want)
		}
	}
}

func TestRoomMessage(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	ann := dial(t, srv, "nick=ann&room=general")
	if f := ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" }); f.Nick != "ann" || !slices.Equal(f.Rooms, []string{"general"}) {
		t.Fatalf("welcome = %+v", f)
	}
	bob := dial(t, srv, "nick=bob&room=general&room=random")
	bob.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	// ann learns that bob came: a change, not the whole list.
	ann.waitFor("bob's arrival", func(f frame) bool {
		return f.Data != nil && f.Data.Type == "presence" && f.Data.Nick == "bob" && f.Data.Event == "joined"
	})

	// The feed of the room, over SSE.
	feed := openFeed(t, srv, "topic=general")

	ann.send(command{Type: "say", Room: "general", Text: "hello, bob"})
	got := bob.waitMessage("hello, bob")
	if got.Topic != "#general" || got.Data.From != "ann" || got.Data.Room != "general" || got.ID == "" {
		t.Errorf("bob got %+v %+v", got, *got.Data)
	}
	ann.waitMessage("hello, bob") // the sender sees it too
	e, err := feed.Next()
	if err != nil {
		t.Fatal(err)
	}
	var fe event
	if err := json.Unmarshal([]byte(e.Data), &fe); err != nil || fe.Text != "hello, bob" || fe.From != "ann" || e.ID == "" {
		t.Errorf("feed event %+v: %v", e, err)
	}

	// Typing notices reach the others in the room.
	bob.send(command{Type: "typing", Room: "general"})
	ann.waitFor("typing", func(f frame) bool { return f.Data != nil && f.Data.Type == "typing" && f.Data.Nick == "bob" })
}

func TestDirectMessage(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	ann := dial(t, srv, "nick=ann")
	ann2 := dial(t, srv, "nick=ann") // a second tab
	bob := dial(t, srv, "nick=bob")
	eve := dial(t, srv, "nick=eve")
	// bob holds his nickname once he is welcomed.
	bob.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	ann.send(command{Type: "dm", To: "bob", Text: "psst"})
	if f := bob.waitMessage("psst"); f.Topic != inboxTopic(sessionOf(t, chatOf(t, srv), "bob")) || f.Data.From != "ann" || f.Data.To != "bob" {
		t.Errorf("bob got %+v", f)
	}
	if f := ann2.waitMessage("psst"); f.Topic != inboxTopic(sessionOf(t, chatOf(t, srv), "ann")) {
		t.Errorf("ann's other tab got %+v", f)
	}
	// eve gets nothing of it: the next thing she sees is her own DM.
	eve.send(command{Type: "dm", To: "eve", Text: "note to self"})
	if f := eve.waitFor("anything", func(f frame) bool { return f.Data != nil }); f.Data.Text != "note to self" {
		t.Errorf("eve saw %+v", f.Data)
	}
}

func TestJoinLeave(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	ann := dial(t, srv, "nick=ann&room=general")
	bob := dial(t, srv, "nick=bob&room=general")
	bob.send(command{Type: "join", Room: "games"})
	bob.waitFor("joined notice", func(f frame) bool {
		return f.Data != nil && f.Data.Type == "notice" && f.Data.Room == "games" && f.Data.Event == "joined"
	})
	ann.send(command{Type: "say", Room: "games", Text: "hi"})
	if f := ann.waitError(codeNotInRoom); f.Code != codeNotInRoom {
		t.Errorf("say in a room not joined: %+v", f)
	}
	ann.send(command{Type: "join", Room: "games"})
	ann.send(command{Type: "say", Room: "games", Text: "now I can"})
	bob.waitMessage("now I can")
	bob.send(command{Type: "leave", Room: "games"})
	ann.waitFor("left notice", func(f frame) bool {
		return f.Data != nil && f.Data.Type == "notice" && f.Data.Nick == "bob" && f.Data.Event == "left"
	})
	ann.waitFor("bob's departure", func(f frame) bool {
		return f.Data != nil && f.Data.Type == "presence" && f.Data.Room == "games" && f.Data.Nick == "bob" && f.Data.Event == "left"
	})
}

func TestBadInput(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	for i, tc := range []struct {
		send string
		code string
	}{
		{`{"type":"say","room":"general"`, codeBadJSON},
		{`not json`, codeBadJSON},
		{`{"type":"shout","room":"general","text":"hi"}`, codeBadCommand},
		{`{"type":"say","room":"general","text":"` + strings.Repeat("é", MaxMessageRunes+1) + `"}`, codeTooLong},
		{`{"type":"say","room":"general","text":" \n "}`, codeEmpty},
		{`{"type":"join","room":"Bad Room"}`, codeBadRoom},
		{`{"type":"join","room":"` + strings.Repeat("a", MaxRoomLength+1) + `"}`, codeBadRoom},
		{`{"type":"say","room":"#general","text":"hi"}`, codeBadRoom},
		{`{"type":"dm","to":"not a nick","text":"hi"}`, codeBadNick},
		{`{"type":"dm","to":"nobody","text":"hi"}`, codeUnknownNick},
	} {
		// A page each: one page's rate limit would stop the loop.
		ann := dial(t, srv, "nick=ann"+strconv.Itoa(i)+"&room=general")
		ann.sendText(tc.send)
		if f := ann.waitError(tc.code); f.Code != tc.code || f.Error == "" {
			t.Errorf("%.50s: got %+v, want error %s", tc.send, f, tc.code)
		}
		// Nothing was lost: the connection still works.
		ann.send(command{Type: "say", Room: "general", Text: "still here"})
		ann.waitMessage("still here")
		ann.conn.Close()
	}

	// The error says what the rule is.
	ann := dial(t, srv, "nick=ann&room=general")
	ann.sendText(`{"type":"say","room":"general","text":"` + strings.Repeat("x", MaxMessageRunes+5) + `"}`)
	if f := ann.waitError(codeTooLong); !strings.Contains(f.Error, "at most 1000 characters") {
		t.Errorf("too long: %q", f.Error)
	}

	// Too many rooms.
	q := "nick=ann"
	for i := range MaxRoomsPerConn {
		q += "&room=r" + string(rune('a'+i))
	}
	ann = dial(t, srv, q)
	ann.send(command{Type: "join", Room: "one-more"})
	if f := ann.waitError(codeTooMany); f.Code != codeTooMany {
		t.Errorf("joining room %d: %+v", MaxRoomsPerConn+1, f)
	}
}

func TestRateLimit(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	ann := dial(t, srv, "nick=ann&room=general")
	for range MessageBurst + 1 {
		ann.send(command{Type: "typing", Room: "general"})
	}
	if f := ann.waitError(codeRateLimited); f.Code != codeRateLimited {
		t.Errorf("got %+v", f)
	}
}

// TestTooBig sends a message over the read limit: the server closes the
// connection with 1009 and the others carry on.
func TestTooBig(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	ann := dial(t, srv, "nick=ann&room=general")
	bob := dial(t, srv, "nick=bob&room=general")
	ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	ann.sendText(strings.Repeat("x", MaxFrameBytes+1))
	ann.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		r, err := ann.conn.NewFrameReader()
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		p, _ := io.ReadAll(r)
		if r.PayloadType() == websocket.CloseFrame {
			if len(p) < 2 || binary.BigEndian.Uint16(p) != 1009 {
				t.Fatalf("close frame %q, want code 1009", p)
			}
			break
		}
	}
	bob.send(command{Type: "say", Room: "general", Text: "fine here"})
	bob.waitMessage("fine here")
}

func TestRefused(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	tooMany := "nick=ann"
	for i := range MaxRoomsPerConn + 1 {
		tooMany += "&room=r" + string(rune('a'+i))
	}
	sess := "&session=" + sessionOf(t, chatOf(t, srv), "ann")
	for _, q := range []string{"", "nick=ann", "nick=ann&session=short", "nick=" + sess, "nick=a%20b" + sess, "nick=ann&room=Bad" + sess,
		"nick=" + strings.Repeat("a", MaxNickLength+1) + sess, tooMany + sess} {
		url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?" + q
		if conn, err := websocket.Dial(url, "", srv.URL); err == nil {
			conn.Close()
			t.Errorf("/ws?%s: accepted", q)
		}
	}
	for _, q := range []string{"", "topic=Bad", "topic=" + strings.Repeat("a", MaxRoomLength+1)} {
		resp, err := http.Get(srv.URL + "/events?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(bufio.NewReader(resp.Body))
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || len(body) == 0 {
			t.Errorf("/events?%s: %s %q", q, resp.Status, body)
		}
	}
}

// TestResume drops a connection, publishes while it is away, and checks
// that it gets exactly what it missed when it comes back.
func TestResume(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	ann := dial(t, srv, "nick=ann&room=general")
	bob := dial(t, srv, "nick=bob&room=general")
	ann.send(command{Type: "say", Room: "general", Text: "one"})
	last := bob.waitMessage("one").ID
	bob.conn.Close()
	ann.send(command{Type: "say", Room: "general", Text: "two"})
	ann.send(command{Type: "say", Room: "general", Text: "three"})
	ann.waitMessage("three")

	bob = dial(t, srv, "nick=bob&room=general&lastEventId="+last)
	if texts := bob.messages(2); !slices.Equal(texts, []string{"two", "three"}) {
		t.Fatalf("resumed with %q, want two, three", texts)
	}
}

// TestBacklog opens a chat page and a feed page after a few messages: each
// asks for the recent past with the ID the server gives it, and gets every
// message, the first one too.
func TestBacklog(t *testing.T) {
	leakcheck.Check(t)
	srv := startChat(t, newChat())
	ann := dial(t, srv, "nick=ann&room=general")
	for _, text := range []string{"first", "second"} {
		ann.send(command{Type: "say", Room: "general", Text: text})
		ann.waitMessage(text)
	}
	since := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cfg, ok := configOf(body)
		if !ok {
			t.Fatalf("GET %s: no config in the page", path)
		}
		return cfg.Since
	}

	// The feed's first event is the first message.
	if e, err := openFeed(t, srv, "topic=general&lastEventId="+since("/feed")).Next(); err != nil || e.Type != "message" || !strings.Contains(e.Data, `"text":"first"`) {
		t.Fatalf("feed backlog starts with %+v, %v; want the first message", e, err)
	}

	bob := dial(t, srv, "nick=bob&room=general&lastEventId="+since("/"))
	if texts := bob.messages(2); !slices.Equal(texts, []string{"first", "second"}) {
		t.Fatalf("backlog %q, want first, second", texts)
	}
}

func TestSince(t *testing.T) {
	for _, tc := range []struct {
		last string
		n    int
		want string
	}{
		{"", 10, "ep-0"},
		{"ep-5", 10, "ep-0"},
		{"ep-10", 10, "ep-0"},
		{"ep-100", 10, "ep-90"},
	} {
		if got := since("ep", tc.last, tc.n); got != tc.want {
			t.Errorf("since(%q, %q, %d) = %q, want %q", "ep", tc.last, tc.n, got, tc.want)
		}
	}
}

// TestDefaultAddr checks the server listens on this machine only unless
// told otherwise, on its own port, and names the URL to open.
func TestDefaultAddr(t *testing.T) {
	host, port, err := net.SplitHostPort(defaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	if !origin.IsLoopbackHost(host) || port != "8081" {
		t.Errorf("default address %q, want a loopback name and port 8081", defaultAddr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	for addr, want := range map[string]string{
		":0":          "localhost:" + p,
		"0.0.0.0:0":   "localhost:" + p,
		"127.0.0.1:0": "127.0.0.1:" + p,
		"[::1]:0":     "[::1]:" + p,
	} {
		if got := examplecmd.ListenURL("http", addr, ln); got != "http://"+want {
			t.Errorf("listenURL for %q = %q, want %q", addr, got, "http://"+want)
		}
	}
}
