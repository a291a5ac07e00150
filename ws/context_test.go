package ws

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/wstest"
)

// TestConnContext: a Hub connection's context carries what middleware put
// in the handshake request's context, outlives the request, and ends when
// the connection closes, with the connection's error as its cause.
func TestConnContext(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	type closed struct {
		ctx context.Context
		err error
	}
	connected := make(chan *Conn, 1)
	ended := make(chan closed, 1)
	h := NewHub(HubOptions{
		OnConnect: func(m *Member, r *http.Request) { connected <- m.Conn() },
		OnMessage: func(m *Member, _ MessageType, _ []byte) {
			// Read on the Hub's goroutine, after ServeHTTP returned.
			ctx := m.Conn().Context()
			user, _ := testutil.User(ctx)
			if ctx.Err() != nil {
				user = "context ended early: " + ctx.Err().Error()
			}
			m.Send(MessageText, []byte(user))
		},
		OnClose: func(m *Member, err error) { ended <- closed{m.Conn().Context(), err} },
	})
	srv := httptest.NewServer(testutil.WithUser(h))
	defer srv.Close()
	defer h.Shutdown(context.Background())

	client := dial(t, srv.URL+"?user=ann", nil)
	c := <-connected
	send(t, client, wstest.OpText, "who am I?")
	if _, data, err := client.ReadMessage(); err != nil || string(data) != "ann" {
		t.Fatalf("OnMessage saw user %q (%v), want ann", data, err)
	}
	select {
	case <-c.Context().Done():
		t.Fatal("context done while the connection is open")
	default:
	}
	client.WriteFrames(wstest.Masked(wstest.OpClose, []byte{0x03, 0xe8}))
	readClose(t, client)
	client.Close()
	got := <-ended
	select {
	case <-got.ctx.Done():
	default:
		t.Fatal("context not done in OnClose")
	}
	var ce *CloseError
	if cause := context.Cause(got.ctx); cause != got.err || !errors.As(cause, &ce) || ce.Code != StatusNormalClosure {
		t.Errorf("context's cause %v, want the close error %v", cause, got.err)
	}
	if user, _ := testutil.User(got.ctx); user != "ann" {
		t.Errorf("OnClose saw user %v, want ann", user)
	}
}

// TestConnSetContext: what OnConnect attaches with SetContext is seen by
// OnMessage and OnClose, next to the request's values, and the new context
// still ends with the connection.
func TestConnSetContext(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	type nickKey struct{}
	ended := make(chan context.Context, 1)
	h := NewHub(HubOptions{
		OnConnect: func(m *Member, r *http.Request) {
			c := m.Conn()
			nick := strings.ToUpper(r.URL.Query().Get("user"))
			// A context that ends at once: only its values count.
			ctx, cancel := context.WithCancel(context.WithValue(c.Context(), nickKey{}, nick))
			cancel()
			c.SetContext(ctx)
		},
		OnMessage: func(m *Member, _ MessageType, _ []byte) {
			ctx := m.Conn().Context()
			nick, _ := ctx.Value(nickKey{}).(string)
			user, _ := testutil.User(ctx)
			if ctx.Err() != nil {
				nick = "ended: " + ctx.Err().Error()
			}
			m.Send(MessageText, []byte(user+" "+nick))
		},
		OnClose: func(m *Member, err error) { ended <- m.Conn().Context() },
	})
	srv := httptest.NewServer(testutil.WithUser(h))
	defer srv.Close()
	defer h.Shutdown(context.Background())

	client := dial(t, srv.URL+"?user=bob", nil)
	send(t, client, wstest.OpText, "who am I?")
	if _, data, err := client.ReadMessage(); err != nil || string(data) != "bob BOB" {
		t.Fatalf("OnMessage saw %q (%v), want \"bob BOB\"", data, err)
	}
	client.Close()
	ctx := <-ended
	<-ctx.Done() // or the test times out
	if nick := ctx.Value(nickKey{}); nick != "BOB" {
		t.Errorf("OnClose saw nickname %v, want BOB", nick)
	}
	if context.Cause(ctx) == nil {
		t.Error("no cause")
	}
}

// TestDialContext: a dialed connection's context has the values of Dial's
// context, not its end, and ends when the connection closes.
func TestDialContext(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	srv := serve(t, nil, echo)
	ctx, cancel := context.WithCancel(testutil.ContextWithUser(context.Background(), "cat"))
	c, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if user, _ := testutil.User(c.Context()); c.Context().Err() != nil || user != "cat" {
		t.Fatalf("dialed context: err %v, user %q", c.Context().Err(), user)
	}
	c.Close(StatusNormalClosure, "")
	<-c.Context().Done()
	if !errors.Is(context.Cause(c.Context()), c.cause()) {
		t.Errorf("cause %v, want %v", context.Cause(c.Context()), c.cause())
	}
}
