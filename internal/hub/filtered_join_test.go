package hub

import (
	"context"
	"testing"
)

// TestFilteredJoinAfterResumeAhead: a subscriber that resumed from an ID
// ahead of a filtered hub's watermark (the client came from a node further
// on) is at that ID: a topic it joins before the watermark reaches it
// starts there too, as on a hub that waits to catch up. Else Take hands it
// a message numbered below what the client has (its IDs go back), and a
// reconnect from that ID replays the client's other topics again.
func TestFilteredJoinAfterResumeAhead(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", Filtered: true})
	defer h.Close()
	skipTo(t, h, 2)
	s, err := h.Subscribe(context.Background(), []string{"a"}, "E-10") // the client has every a up to 10
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Notify(func() {})
	if got := takeAll(s); len(got) != 0 {
		t.Fatalf("before the watermark reached the resume ID: %q", got)
	}
	if err := s.Join("b"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		seq   uint64
		topic string
	}{{5, "b"}, {8, "a"}, {11, "a"}, {12, "b"}} {
		if _, err := h.PublishAt(m.seq, m.topic, func(id string) []byte { return []byte(id) }); err != nil {
			t.Fatal(err)
		}
	}
	skipTo(t, h, 12)
	var last uint64 = 10 // the client's position
	for {
		msgs, gap := s.Take(nil)
		if gap != nil {
			t.Fatalf("gap %v", gap)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if m.Seq <= last {
				t.Errorf("%s of %s after the client was at E-%d: its position goes back", m.ID, m.Topic, last)
			}
			last = max(last, m.Seq)
		}
	}
	if last != 12 {
		t.Errorf("last message taken E-%d, want E-12", last)
	}
}
