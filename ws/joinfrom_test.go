package ws

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

// joinHub serves a Hub whose clients send "join LASTID TOPIC" to join a
// topic from a resume point; the Hub answers "joined TOPIC" right after.
func joinHub(t *testing.T) (*Hub, string) {
	h, srv := serveHub(t, HubOptions{
		Epoch: "ep",
		OnMessage: func(c *Conn, _ MessageType, data []byte) {
			f := strings.Fields(string(data))
			if err := c.JoinFrom(f[1], f[2]); err != nil {
				c.Send(MessageText, []byte("error "+err.Error()))
				return
			}
			c.Send(MessageText, []byte("joined "+f[2]))
		},
	})
	return h, srv.URL
}

// TestConnJoinFrom: a connection that joins a topic from a resume point
// gets the topic's messages after it, then what is sent after the join,
// then live messages of all its topics.
func TestConnJoinFrom(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	h, url := joinHub(t)
	h.Publish("b", MessageText, []byte("b1")) // ep-1
	h.Publish("b", MessageText, []byte("b2")) // ep-2
	h.Publish("a", MessageText, []byte("a1")) // ep-3
	c := dial(t, url+"?topic=a", nil)
	h.Publish("a", MessageText, []byte("a2")) // ep-4
	if e := readEnvelope(t, c); e.ID != "ep-4" {
		t.Fatalf("live before the join: %+v", e)
	}

	send(t, c, wstest.OpText, "join ep-1 b")
	if e := readEnvelope(t, c); e.ID != "ep-2" || e.Topic != "b" || string(e.Data) != `"b2"` {
		t.Fatalf("replay of the joined topic: %+v, want ep-2 of b", e)
	}
	if _, data, err := c.ReadMessage(); err != nil || string(data) != "joined b" {
		t.Fatalf("after the replay: %q %v, want the answer sent after JoinFrom", data, err)
	}
	h.Publish("b", MessageText, []byte("b3")) // ep-5
	h.Publish("a", MessageText, []byte("a3")) // ep-6
	for _, want := range []string{"ep-5", "ep-6"} {
		if e := readEnvelope(t, c); e.ID != want {
			t.Fatalf("live after the join: %+v, want %s", e, want)
		}
	}
	if s := h.Stats(); s.Replayed != 1 || s.Gaps != 0 {
		t.Errorf("stats %+v, want one message replayed and no gap", s)
	}
}

// TestConnJoinFromGap: a resume point the history cannot serve gets a gap
// notice in the connection's stream, then what the history holds.
func TestConnJoinFromGap(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	h, url := joinHub(t)
	c := dial(t, url+"?topic=a", nil)
	h.Publish("c", MessageText, []byte("c1")) // ep-1
	h.Publish("a", MessageText, []byte("a1")) // ep-2
	if e := readEnvelope(t, c); e.ID != "ep-2" {
		t.Fatalf("live before the join: %+v", e)
	}
	send(t, c, wstest.OpText, "join old-9 c")
	if e := readEnvelope(t, c); e.Type != "gap" || e.Reason != "unknown epoch" || e.LastEventID != "old-9" || e.ID != "ep-0" {
		t.Fatalf("got %+v, want a gap notice for an unknown epoch resuming at ep-0", e)
	}
	if e := readEnvelope(t, c); e.ID != "ep-1" || e.Topic != "c" {
		t.Fatalf("after the gap: %+v, want ep-1 of c", e)
	}
	if _, data, err := c.ReadMessage(); err != nil || string(data) != "joined c" {
		t.Fatalf("after the replay: %q %v", data, err)
	}

	send(t, c, wstest.OpText, "join ep-99 d")
	if e := readEnvelope(t, c); e.Type != "gap" || e.Reason != "future id" || e.ID != "ep-2" {
		t.Fatalf("got %+v, want a gap notice for a future id resuming at ep-2", e)
	}
	if _, data, err := c.ReadMessage(); err != nil || string(data) != "joined d" {
		t.Fatalf("after the gap: %q %v", data, err)
	}
	if s := h.Stats(); s.Gaps != 2 {
		t.Errorf("stats %+v, want 2 gaps", s)
	}
}

// TestConnJoinFromNotHub: JoinFrom on a connection that is not a Hub's
// says so.
func TestConnJoinFromNotHub(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	errs := make(chan error, 1)
	srv := serve(t, nil, func(c *Conn) {
		errs <- c.JoinFrom("x-1", "a")
		c.CloseNow()
	})
	c, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := <-errs; !errors.Is(err, ErrNotHubConn) {
		t.Errorf("JoinFrom on an Accept connection: %v", err)
	}
}
