package hub_test

import (
	"fmt"

	"github.com/realtime-go/realtime/internal/hub"
)

func Example() {
	h := hub.New(hub.Options{Epoch: "demo"})
	defer h.Close()

	// A writer subscribes, here to two topics.
	s, _, _, _ := h.Subscribe([]string{"news", "sport"}, "")

	// Publishing encodes once, with the ID the hub stamps.
	for _, topic := range []string{"news", "weather", "sport"} {
		h.Publish(topic, func(id string) []byte { return []byte(id + " " + topic) })
	}

	// The writer wakes and takes everything waiting at once.
	<-s.Ready()
	for _, m := range s.Take(nil) {
		fmt.Println(string(m.Data))
	}

	// A client that saw demo-1 comes back and gets what it missed.
	_, replay, gap, _ := h.Subscribe([]string{"news", "sport"}, "demo-1")
	fmt.Println(len(replay), replay[0].ID, gap == nil)
	// Output:
	// demo-1 news
	// demo-3 sport
	// 1 demo-3 true
}
