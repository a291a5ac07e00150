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

// A Hub's hooks get a Member: a client joins a topic by asking for it,
// and hears what is published there from then on.
func ExampleMember() {
	var hub *ws.Hub
	hub = ws.NewHub(ws.HubOptions{
		Epoch: "demo",
		OnMessage: func(m *ws.Member, typ ws.MessageType, data []byte) {
			if err := m.Join(string(data)); err != nil {
				m.SendJSON(map[string]string{"error": err.Error()})
				return
			}
			m.SendJSON(map[string][]string{"topics": m.Topics()}) // to this client alone
			hub.Publish(string(data), ws.MessageText, []byte("welcome"))
		},
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ws.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1), &ws.DialOptions{Subprotocols: []string{ws.Subprotocol}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	c.Send(ws.MessageText, []byte("news"))
	for range 2 {
		_, data, err := c.Read(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(data))
	}
	// Output:
	// {"type":"direct","data":{"topics":["news"]}}
	// {"type":"message","id":"demo-1","topic":"news","data":"welcome"}
}
