//go:build reviewpending

package hub

import (
	"fmt"
	"testing"
)

// TestTakeStorageBounded: one Take of a subscriber that lags on many busy
// topics of small messages holds storage for a bounded number of
// messages, not for every message its topics' logs hold: the writer keeps
// that slice while its write to a slow peer waits (up to WriteTimeout), so
// today a slow client of 64 topics holds 8 bytes per message of up to
// 64 logs (about 8 MB with the default HistoryBytes).
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
	const bound = 8192 // what a fix could choose: a count bound beside maxTakeBytes
	if cap(msgs) > bound {
		t.Fatalf("one Take returned %d messages in storage for %d", len(msgs), cap(msgs))
	}
}
