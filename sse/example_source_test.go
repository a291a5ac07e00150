package sse_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/realtime-go/realtime/sse"
)

// sharedStream stands for the ordered stream that every node applies: in
// a program, a NATS JetStream stream (see examples/cluster).
type sharedStream []sse.Record

// Replay serves the records of topics in (after, upTo].
func (s sharedStream) Replay(_ context.Context, topics []string, after, upTo uint64, yield func(sse.Record) bool) error {
	for _, r := range s {
		if r.Seq > after && r.Seq <= upTo && slices.Contains(topics, r.Topic) && !yield(r) {
			break
		}
	}
	return nil
}

// Nodes that apply one stream with PublishAt give each event the same ID,
// and a HistorySource lets a node serve what it never held: here a client
// that saw the first event on another node resumes on a node that started
// after the second one.
func ExampleBroker_PublishAt() {
	stream := sharedStream{
		{Seq: 1, Topic: "news", Event: sse.Event{Data: "one"}},
		{Seq: 2, Topic: "news", Event: sse.Event{Data: "two"}},
		{Seq: 3, Topic: "news", Event: sse.Event{Data: "three"}},
	}
	b := sse.NewBroker(sse.BrokerOptions{Epoch: "cluster", History: stream})
	defer b.Shutdown(context.Background())
	b.PublishAt(stream[2].Seq, stream[2].Topic, stream[2].Event)
	srv := httptest.NewServer(b)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"?topic=news", nil)
	req.Header.Set("Last-Event-ID", "cluster-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	r := sse.NewReader(resp.Body)
	for range 2 {
		ev, err := r.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.ID, ev.Data)
	}
	// Output:
	// cluster-2 two
	// cluster-3 three
}
