package hub_test

import (
	"context"
	"fmt"

	"github.com/realtime-go/realtime/internal/hub"
)

func Example() {
	h, _ := hub.New(hub.Options{Epoch: "demo"})
	defer h.Close()

	// A writer subscribes, here to two topics, and says how to wake it.
	s, _ := h.Subscribe(context.Background(), []string{"news", "sport"}, "")
	wake := make(chan struct{}, 1)
	s.Notify(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})

	// Publishing encodes once, with the ID the hub stamps.
	for _, topic := range []string{"news", "weather", "sport"} {
		h.Publish(topic, func(id string) []byte { return []byte(id + " " + topic) })
	}

	// The writer wakes and takes everything after its position at once.
	<-wake
	msgs, _ := s.Take(nil)
	for _, m := range msgs {
		fmt.Println(string(m.Data))
	}

	// A client that saw demo-1 comes back and gets what it missed.
	r, _ := h.Subscribe(context.Background(), []string{"news", "sport"}, "demo-1")
	r.Notify(func() {})
	replay, gap := r.Take(nil)
	fmt.Println(len(replay), replay[0].ID, gap == nil)
	// Output:
	// demo-1 news
	// demo-3 sport
	// 1 demo-3 true
}
