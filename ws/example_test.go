package ws_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/realtime-go/realtime/ws"
	"golang.org/x/net/websocket"
)

// An echo server: every message comes back as it came.
func Example_echo() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return // Accept answered with an HTTP error
		}
		for {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				return // closed: err says how (a *ws.CloseError)
			}
			c.Send(typ, data)
		}
	}))
	defer srv.Close()

	// A Go client sends no Origin header of its own; x/net's sends the one
	// given, here the server's own.
	client, err := websocket.Dial(strings.Replace(srv.URL, "http", "ws", 1), "", srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	websocket.Message.Send(client, "hello")
	var reply string
	websocket.Message.Receive(client, &reply)
	fmt.Println(reply)
	// Output: hello
}

// A Hub publishes to clients by topic, in a JSON envelope that carries the
// message's ID for resume.
func ExampleHub() {
	hub := ws.NewHub(ws.HubOptions{Epoch: "demo"})
	srv := httptest.NewServer(hub) // clients connect to /?topic=news
	defer srv.Close()
	defer hub.Shutdown(context.Background())

	client, err := websocket.Dial(strings.Replace(srv.URL, "http", "ws", 1)+"/?topic=news", "", srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	hub.Publish("news", ws.MessageText, []byte("hello"))
	hub.PublishJSON("news", map[string]any{"price": 12.5})
	for range 2 {
		var msg string
		websocket.Message.Receive(client, &msg)
		fmt.Println(msg)
	}
	// Output:
	// {"type":"message","id":"demo-1","topic":"news","data":"hello"}
	// {"type":"message","id":"demo-2","topic":"news","data":{"price":12.5}}
}

// A client that reconnects with the last ID it saw gets what it missed.
func ExampleHub_resume() {
	hub := ws.NewHub(ws.HubOptions{Epoch: "demo"})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Shutdown(context.Background())

	for _, s := range []string{"one", "two", "three"} {
		hub.Publish("news", ws.MessageText, []byte(s))
	}
	url := strings.Replace(srv.URL, "http", "ws", 1) + "/?topic=news&lastEventId=demo-1"
	client, err := websocket.Dial(url, "", srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	for range 2 {
		var msg string
		websocket.Message.Receive(client, &msg)
		fmt.Println(msg)
	}
	// Output:
	// {"type":"message","id":"demo-2","topic":"news","data":"two"}
	// {"type":"message","id":"demo-3","topic":"news","data":"three"}
}

func ExampleCloseError() {
	err := fmt.Errorf("reading: %w", &ws.CloseError{Code: ws.StatusGoingAway, Reason: "bye"})
	var ce *ws.CloseError
	if !errors.As(err, &ce) {
		fmt.Println("no close frame:", err)
		return
	}
	switch ce.Code {
	case ws.StatusNormalClosure, ws.StatusGoingAway:
		fmt.Println("closed normally")
	case ws.StatusSlowConsumer:
		fmt.Println("too slow: reconnect and resume")
	default:
		fmt.Println("failed:", err)
	}
	// Output: closed normally
}

// A Go program follows a Hub's topics with Subscribe: it resumes after
// the last message it got whenever it has to reconnect.
func ExampleSubscribe() {
	hub := ws.NewHub(ws.HubOptions{Epoch: "demo"})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Shutdown(context.Background())

	ctx := context.Background()
	sub, err := ws.Subscribe(ctx, srv.URL, &ws.SubscribeOptions{Topics: []string{"news"}})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	hub.Publish("news", ws.MessageText, []byte("hello"))
	hub.PublishJSON("news", map[string]any{"price": 12.5})
	for range 2 {
		m, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.ID, m.Topic, string(m.Data))
	}
	// Output:
	// demo-1 news "hello"
	// demo-2 news {"price":12.5}
}

// Dial opens a connection from Go; Read takes a context.
func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if _, msg, err := c.Read(context.Background()); err == nil {
			c.Send(ws.MessageText, append([]byte("you said: "), msg...))
		}
		c.Read(context.Background()) // until the client closes
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ws.Dial(ctx, srv.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	c.Send(ws.MessageText, []byte("hi"))
	_, reply, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply))
	c.Close(ws.StatusNormalClosure, "bye")
	// Output: you said: hi
}
