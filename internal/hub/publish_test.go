package hub

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
)

// A writer that finds a topic's last message after its position must find
// it under the hub's head too: Publish makes a message readable (head)
// before it tells the waiting lists (last). In the other order, every
// writer that looked in between found nothing to take and nothing to wait
// for, and spun until the publisher, holding the hub's lock, stored the
// head: with 2,000 connections on two cores, the server's CPU went to its
// writers and publishing fell to a third of its rate, with latencies of
// seconds (internal/bench -scenario latency).
func TestHeadBeforeLast(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	publish(t, h, "a", "first")
	tp := h.topics["a"]
	var stop atomic.Bool
	behind := make(chan uint64, 1)
	go func() {
		defer close(behind)
		for !stop.Load() {
			last := tp.last.Load()
			if head := h.head.Load(); head < last {
				behind <- last - head
				return
			}
		}
	}()
	for range 200_000 {
		if _, err := h.Publish("a", func(string) []byte { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	if n, ok := <-behind; ok {
		t.Fatalf("a topic's last message was %d ahead of the hub's head", n)
	}
}

// A message larger than its topic's log can hold is refused by Publish,
// and costs no subscriber a gap. (It was evicted by its own Publish: every
// subscriber got a "too slow" gap, and Publish said nothing.)
func TestPublishTooLarge(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", HistoryBytes: 1000})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	_, err := h.Publish("a", func(string) []byte { return make([]byte, 1000) })
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("Publish of a message its topic's log cannot hold: %v, want ErrTooLarge", err)
	}
	if h.LastID() != "" {
		t.Errorf("LastID %q after a refused message, want none", h.LastID())
	}
	publish(t, h, "a", "small")
	if got := s.take(t); !slices.Equal(datas(got), []string{"small"}) {
		t.Fatalf("got %q", datas(got))
	}
}
