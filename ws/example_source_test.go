package ws_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"slices"
	"strings"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/ws"
)

// sharedStream stands for the ordered stream that every node applies: in
// a program, a NATS JetStream stream (see examples/cluster).
type sharedStream []ws.Record

// Replay serves the records of topics in (after, upTo].
func (s sharedStream) Replay(_ context.Context, topics []string, after, upTo uint64, yield func(ws.Record) bool) error {
	for _, r := range s {
		if r.Seq > after && r.Seq <= upTo && slices.Contains(topics, r.Topic) && !yield(r) {
			break
		}
	}
	return nil
}

// Nodes that apply one stream with PublishAt give each message the same
// ID, and a HistorySource lets a node serve what it never held: here a
// client that saw the first message on another node resumes on a node that
// started after the second one.
func ExampleHub_PublishAt() {
	stream := sharedStream{
		{Seq: 1, Topic: "news", Type: ws.MessageText, Data: []byte("one")},
		{Seq: 2, Topic: "news", Type: ws.MessageText, Data: []byte("two")},
		{Seq: 3, Topic: "news", Type: ws.MessageText, Data: []byte("three")},
	}
	hub := ws.NewHub(ws.HubOptions{Epoch: "cluster", History: stream})
	defer hub.Shutdown(context.Background())
	last := stream[2]
	hub.PublishAt(last.Seq, last.Topic, last.Type, last.Data)
	srv := httptest.NewServer(hub)
	defer srv.Close()

	url := strings.Replace(srv.URL, "http", "ws", 1) + "/?topic=news&lastEventId=cluster-1"
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
	// {"type":"message","id":"cluster-2","topic":"news","data":"two"}
	// {"type":"message","id":"cluster-3","topic":"news","data":"three"}
}
