package hub

import (
	"fmt"
	"strings"
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

// TestCutAcrossTopics: a subscriber of several topics that takes nothing
// during a burst of large messages gets all of them, in order, in Takes
// that each hold at most 1 MiB after their first message.
func TestCutAcrossTopics(t *testing.T) {
	h := newHub(t, Options{HistoryBytes: 64 << 20})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a", "b", "c")
	<-s.ready
	const n = 90
	for i := range n {
		size := 100<<10 + i*1000 // about 9 MiB in all, across three topics
		publish(t, h, []string{"a", "b", "c"}[i%3], strings.Repeat("x", size))
	}
	var got []*Message
	for takes := 0; len(got) < n; takes++ {
		msgs, gap := s.Take(nil)
		if gap != nil || len(msgs) == 0 {
			t.Fatalf("take %d after %d messages: %d messages, gap %v", takes, len(got), len(msgs), gap)
		}
		size := 0
		for _, m := range msgs[1:] {
			size += len(m.Data)
		}
		if size > maxTakeBytes {
			t.Fatalf("a Take returned %d bytes after its first message", size)
		}
		got = append(got, msgs...)
	}
	for i, m := range got {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has Seq %d", i, m.Seq)
		}
	}
	if msgs, gap := s.Take(nil); len(msgs) != 0 || gap != nil {
		t.Fatalf("after everything: %d messages, gap %v", len(msgs), gap)
	}
}
