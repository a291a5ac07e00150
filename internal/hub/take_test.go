package hub

import (
	"fmt"
	"testing"
)

// TestTakeStorageBounded: one Take of a subscriber that lags on many busy
// topics of small messages holds storage for a bounded number of
// messages, not for every message its topics' logs hold: the writer keeps
// that slice while its write to a slow peer waits (up to WriteTimeout).
func TestTakeStorageBounded(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	topics := make([]string, 16)
	for i := range topics {
		topics[i] = fmt.Sprint("t", i)
	}
	s, _, _ := subscribe(t, h, "", topics...)
	for i := range 64_000 {
		publish(t, h, topics[i%len(topics)], "x")
	}
	msgs, gap := s.Take(nil)
	if gap != nil {
		t.Fatal(gap)
	}
	const bound = 8192 // maxTakeBytes of the smallest messages, with their overhead
	if cap(msgs) > bound {
		t.Fatalf("one Take returned %d messages in storage for %d", len(msgs), cap(msgs))
	}
}
