package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/realtime-go/realtime/ws"
)

// testTimeout bounds each test's conversation.
const testTimeout = 20 * time.Second

// echoServer serves the echo loop of examples/echo with opts, and reports
// each connection's end.
func echoServer(t *testing.T, opts *ws.AcceptOptions) (string, <-chan error) {
	ended := make(chan error, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, opts)
		if err != nil {
			return
		}
		for {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				ended <- err
				return
			}
			if string(data) == "close please" {
				c.Close(ws.StatusPolicyViolation, "you asked for it")
				_, _, err := c.Read(context.Background()) // why it closed, every time
				ended <- err
				return
			}
			c.Send(typ, data)
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ended
}

func dial(t *testing.T, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	url, _ := echoServer(t, nil)
	c := dial(t, ctx, url)
	for _, m := range []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello")},
		{websocket.MessageBinary, []byte{0, 1, 2, 255}},
		{websocket.MessageText, []byte("")},
		{websocket.MessageText, []byte("κόσμε " + strings.Repeat("€", 50_000))},
		{websocket.MessageBinary, bytes.Repeat([]byte{7}, 900_000)},
	} {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != m.typ || !bytes.Equal(got, m.data) {
			t.Fatalf("sent %v of %d bytes, got %v of %d bytes", m.typ, len(m.data), typ, len(got))
		}
	}
	// Pings from the client get pongs (Ping waits for one).
	go c.Read(ctx)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// TestFragments: a message written in pieces arrives as one.
func TestFragments(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	url, _ := echoServer(t, nil)
	c := dial(t, ctx, url)
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := range 40 {
		// Each piece is larger than the client's buffer, so it goes out
		// as its own frame.
		piece := fmt.Appendf(nil, "%02d%s", i, strings.Repeat("ü", 3000))
		want.Write(piece)
		if _, err := w.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %v of %d bytes (%v), want %d bytes of text", typ, len(got), err, want.Len())
	}
}

func TestCloseCodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	url, ended := echoServer(t, &ws.AcceptOptions{ReadLimit: 1024})

	// The client closes: the server sees its code and reason.
	c := dial(t, ctx, url)
	if err := c.Close(4001, "client done"); err != nil {
		t.Fatalf("client close: %v", err)
	}
	var ce *ws.CloseError
	if err := <-ended; !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "client done" || !strings.HasPrefix(err.Error(), "ws: peer closed") {
		t.Fatalf("server saw %v, want the client's 4001", err)
	}

	// The server closes: the client sees its code and reason.
	c = dial(t, ctx, url)
	c.Write(ctx, websocket.MessageText, []byte("close please"))
	_, _, err := c.Read(ctx)
	var cce websocket.CloseError
	if !errors.As(err, &cce) || cce.Code != websocket.StatusPolicyViolation || cce.Reason != "you asked for it" {
		t.Fatalf("client saw %v, want 1008", err)
	}
	if err := <-ended; !errors.As(err, &ce) || ce.Code != ws.StatusPolicyViolation {
		t.Fatalf("server ended with %v", err)
	}

	// Too big: 1009.
	c = dial(t, ctx, url)
	c.Write(ctx, websocket.MessageBinary, make([]byte, 2048))
	_, _, err = c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("client saw %v, want 1009", err)
	}
	if err := <-ended; !errors.As(err, &ce) || ce.Code != ws.StatusMessageTooBig {
		t.Fatalf("server ended with %v", err)
	}

	// Invalid UTF-8 in a text message: 1007.
	c = dial(t, ctx, url)
	w, _ := c.Writer(ctx, websocket.MessageText)
	w.Write([]byte("ok \xff"))
	w.Close()
	_, _, err = c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("client saw %v, want 1007", err)
	}
	<-ended
}

// TestHub: a hub's envelope and resume, read by the third-party client.
func TestHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	h := ws.NewHub(ws.HubOptions{Epoch: "ep"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	c := dial(t, ctx, url+"?topic=a")
	h.Publish("a", ws.MessageText, []byte("one"))
	h.Publish("a", ws.MessageText, []byte("two"))
	for _, want := range []string{`{"type":"message","id":"ep-1","topic":"a","data":"one"}`, `{"type":"message","id":"ep-2","topic":"a","data":"two"}`} {
		if _, got, err := c.Read(ctx); err != nil || string(got) != want {
			t.Fatalf("got %s (%v), want %s", got, err, want)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")

	c = dial(t, ctx, url+"?topic=a&lastEventId=ep-1")
	if _, got, err := c.Read(ctx); err != nil || !strings.Contains(string(got), `"ep-2"`) {
		t.Fatalf("resume got %s (%v)", got, err)
	}

	// Shutdown closes with 1001.
	go h.Shutdown(ctx)
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after Shutdown the client saw %v, want 1001", err)
	}
}
