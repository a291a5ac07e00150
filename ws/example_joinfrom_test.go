package ws_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/realtime-go/realtime/ws"
)

// A client asks to join a topic from the last ID it saw there; the Hub
// replays what it missed of it, then goes on live.
func ExampleConn_JoinFrom() {
	hub := ws.NewHub(ws.HubOptions{
		Epoch: "demo",
		OnMessage: func(c *ws.Conn, _ ws.MessageType, data []byte) {
			// The client sends "TOPIC LASTID".
			topic, lastID, _ := strings.Cut(string(data), " ")
			if err := c.JoinFrom(lastID, topic); err != nil {
				c.Send(ws.MessageText, []byte(err.Error()))
			}
		},
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Shutdown(context.Background())
	for _, text := range []string{"one", "two", "three"} {
		hub.Publish("room", ws.MessageText, []byte(text))
	}

	c, err := ws.Dial(context.Background(), strings.Replace(srv.URL, "http", "ws", 1), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	c.Send(ws.MessageText, []byte("room demo-1"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		_, msg, err := c.Read(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(msg))
	}
	// Output:
	// {"type":"message","id":"demo-2","topic":"room","data":"two"}
	// {"type":"message","id":"demo-3","topic":"room","data":"three"}
}
