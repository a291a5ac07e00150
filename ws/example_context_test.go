package ws_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/realtime-go/realtime/ws"
)

type userKey struct{}

// Per-connection values live in the connection's context: what
// authentication middleware put in the handshake request's context is
// there, and it ends when the connection closes.
func ExampleConn_Context() {
	hub := ws.NewHub(ws.HubOptions{
		OnMessage: func(m *ws.Member, typ ws.MessageType, data []byte) {
			user := m.Conn().Context().Value(userKey{}).(string)
			m.Send(ws.MessageText, []byte(user+" said "+string(data)))
		},
	})
	auth := func(next http.Handler) http.Handler { // a stand-in for real authentication
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := context.WithValue(r.Context(), userKey{}, "ann")
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	srv := httptest.NewServer(auth(hub))
	defer srv.Close()
	defer hub.Shutdown(context.Background())

	c, err := ws.Dial(context.Background(), strings.Replace(srv.URL, "http", "ws", 1), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	c.Send(ws.MessageText, []byte("hi"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, reply, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply))
	// Output: ann said hi
}

type nickKey struct{}

// OnConnect attaches what it learns of a connection with SetContext;
// OnMessage and OnClose find it there.
func ExampleConn_SetContext() {
	closed := make(chan string, 1)
	hub := ws.NewHub(ws.HubOptions{
		OnConnect: func(m *ws.Member, r *http.Request) {
			c := m.Conn()
			nick := r.URL.Query().Get("nick")
			c.SetContext(context.WithValue(c.Context(), nickKey{}, nick))
		},
		OnClose: func(m *ws.Member, err error) {
			closed <- m.Conn().Context().Value(nickKey{}).(string) + " left"
		},
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Shutdown(context.Background())

	c, err := ws.Dial(context.Background(), strings.Replace(srv.URL, "http", "ws", 1)+"/?nick=bob", nil)
	if err != nil {
		log.Fatal(err)
	}
	c.Close(ws.StatusNormalClosure, "bye")
	fmt.Println(<-closed)
	// Output: bob left
}
