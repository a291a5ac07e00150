package ws

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

// readOp reads one message and returns its payload, failing unless it
// has the opcode want.
func readOp(t *testing.T, c *wstest.Conn, want byte) []byte {
	t.Helper()
	op, data, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if op != want {
		t.Fatalf("opcode %d (%q), want %d", op, data, want)
	}
	return data
}

// splitBinary returns the JSON header and the data of a binary message.
func splitBinary(t *testing.T, p []byte) (string, []byte) {
	t.Helper()
	if len(p) < 2 || int(binary.BigEndian.Uint16(p)) > len(p)-2 {
		t.Fatalf("binary message %q has no header", p)
	}
	n := int(binary.BigEndian.Uint16(p))
	return string(p[2 : 2+n]), p[2+n:]
}

// TestProtocolV1: a client that offers realtime.v1 gets it, and every
// message it gets says what it is: hub messages, the gap notice and direct
// messages, text and binary. A direct JSON message that looks like a hub
// message is still marked direct.
func TestProtocolV1(t *testing.T) {
	leakcheck.Check(t)
	h, srv := serveHub(t, HubOptions{Epoch: "ep", HistorySize: 1, OnConnect: func(c *Member, r *http.Request) {
		c.Send(MessageText, []byte("hi \"you\""))
		c.SendJSON(map[string]string{"id": "x-1", "topic": "news", "data": "not from the hub"})
		c.Send(MessageBinary, []byte{1, 2})
	}})
	h.Publish("news", MessageText, []byte("old"))
	h.Publish("news", MessageText, []byte("kept"))
	c := dial(t, srv.URL+"?topic=news&lastEventId=ep-0", http.Header{"Sec-WebSocket-Protocol": {"other, " + Subprotocol}})
	if got := c.Response.Header.Get("Sec-WebSocket-Protocol"); got != Subprotocol {
		t.Fatalf("subprotocol %q, want %q", got, Subprotocol)
	}
	for _, want := range []string{
		`{"type":"gap","lastEventId":"ep-0","reason":"history exceeded","id":"ep-1"}`,
		`{"type":"message","id":"ep-2","topic":"news","data":"kept"}`,
		`{"type":"direct","data":"hi \"you\""}`,
		`{"type":"direct","data":{"data":"not from the hub","id":"x-1","topic":"news"}}`,
	} {
		if got := string(readOp(t, c, wstest.OpText)); got != want {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
	if hdr, data := splitBinary(t, readOp(t, c, wstest.OpBinary)); hdr != `{"type":"direct"}` || string(data) != "\x01\x02" {
		t.Fatalf("direct binary: header %s, data %q", hdr, data)
	}
	h.PublishJSON("news", []int{1})
	h.Publish("news", MessageBinary, []byte{3})
	if got := string(readOp(t, c, wstest.OpText)); got != `{"type":"message","id":"ep-3","topic":"news","data":[1]}` {
		t.Fatalf("JSON hub message %s", got)
	}
	if hdr, data := splitBinary(t, readOp(t, c, wstest.OpBinary)); hdr != `{"type":"message","id":"ep-4","topic":"news"}` || string(data) != "\x03" {
		t.Fatalf("binary hub message: header %s, data %q", hdr, data)
	}
}

// TestProtocolWithoutSubprotocol: a client that offers no subprotocol (or
// only others) gets direct messages as they were sent, unwrapped, and hub
// messages and gap notices as before, with their type.
func TestProtocolWithoutSubprotocol(t *testing.T) {
	leakcheck.Check(t)
	sub := make(chan string, 4)
	h, srv := serveHub(t, HubOptions{Epoch: "ep", Conn: AcceptOptions{Subprotocols: []string{"chat"}},
		OnConnect: func(c *Member, r *http.Request) {
			sub <- c.Conn().Subprotocol()
			c.Send(MessageText, []byte("plain"))
			c.SendJSON(map[string]int{"n": 1})
			c.Send(MessageBinary, []byte{1, 2})
		}})
	for _, offer := range []string{"", "chat"} {
		hdr := http.Header{}
		if offer != "" {
			hdr.Set("Sec-WebSocket-Protocol", offer)
		}
		c := dial(t, srv.URL+"?topic=news", hdr)
		if got := <-sub; got != offer {
			t.Fatalf("offering %q: subprotocol %q", offer, got)
		}
		for _, want := range []string{"plain", `{"n":1}`} {
			if got := string(readOp(t, c, wstest.OpText)); got != want {
				t.Fatalf("offering %q: direct %s, want %s", offer, got, want)
			}
		}
		if got := readOp(t, c, wstest.OpBinary); string(got) != "\x01\x02" {
			t.Fatalf("offering %q: direct binary %q", offer, got)
		}
		id, _ := h.Publish("news", MessageText, []byte("x"))
		var m struct{ Type, ID, Topic, Data string }
		if err := json.Unmarshal(readOp(t, c, wstest.OpText), &m); err != nil || m.Type != "message" || m.ID != id || m.Data != "x" {
			t.Fatalf("offering %q: hub message %+v, %v", offer, m, err)
		}
	}
	// A client that offers both gets the hub's protocol first.
	dial(t, srv.URL+"?topic=news", http.Header{"Sec-WebSocket-Protocol": {"chat, " + Subprotocol}})
	if got := <-sub; got != Subprotocol {
		t.Fatalf("offering both: %q, want %q", got, Subprotocol)
	}
}

// TestProtocolAcceptV1: Accept chooses realtime.v1 only when the server
// lists it, and a Conn sends what it is given: the envelope is a Hub
// Member's, not the connection's.
func TestProtocolAcceptV1(t *testing.T) {
	leakcheck.Check(t)
	srv := serve(t, &AcceptOptions{Subprotocols: []string{Subprotocol}}, func(c *Conn) {
		c.Send(MessageText, []byte("true"))
		c.Close(StatusNormalClosure, "")
	})
	c := dial(t, srv.URL, http.Header{"Sec-WebSocket-Protocol": {Subprotocol}})
	if got := string(readOp(t, c, wstest.OpText)); got != "true" {
		t.Fatalf("text on Accept with %s: %s, want it as it was sent", Subprotocol, got)
	}
}
