package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A Source that ignores what yield returns (a plain loop over what it
// holds) is stopped at the first false all the same: one Take holds no
// more than its share of the replay budget, and the replay goes on in
// later calls, in order, nothing twice.
func TestSourceIgnoringYieldIsStopped(t *testing.T) {
	const n = 3000
	data := strings.Repeat("x", 1<<10)
	src := func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) error {
		for seq := after + 1; seq <= upTo; seq++ {
			yield(&Message{Seq: seq, Topic: "a", Data: []byte(data)}) // return ignored
		}
		return nil
	}
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 4 * (messageOverhead + len(data)), Source: src})
	defer h.Close()
	for seq := uint64(1); seq <= n; seq++ {
		if _, err := h.PublishAt(seq, "a", func(string) []byte { return []byte(data) }); err != nil {
			t.Fatal(err)
		}
	}
	s, err := h.Subscribe(context.Background(), []string{"a"}, "S-0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var next uint64 = 1
	var buf []*Message
	for next <= n {
		msgs, gap := s.Take(buf)
		if gap != nil {
			t.Fatalf("gap %v at %d", gap, next)
		}
		if len(msgs) == 0 {
			t.Fatalf("nothing to take at %d", next)
		}
		size := 0
		for _, m := range msgs {
			if m.Seq != next {
				t.Fatalf("took %d, want %d", m.Seq, next)
			}
			next++
			size += len(m.Data) + messageOverhead
		}
		if size > maxTakeBytes+len(data)+messageOverhead {
			t.Fatalf("one Take holds %d bytes from the Source, more than the %d of one call", size, maxTakeBytes)
		}
		buf = msgs
	}
}

// A Source that yields nil, or keeps yielding after it was told to stop
// because of a bad message, ends the replay with one gap and no panic.
func TestSourceYieldsNil(t *testing.T) {
	src := func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) error {
		yield(&Message{Seq: after + 1, Topic: "a", Data: []byte("1")})
		yield(nil)
		yield(&Message{Seq: after + 2, Topic: "a", Data: []byte("2")})
		return nil
	}
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 2 * (messageOverhead + 1), Source: src})
	defer h.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		h.PublishAt(seq, "a", func(string) []byte { return []byte(fmt.Sprint(seq)) })
	}
	s, _ := h.Subscribe(context.Background(), []string{"a"}, "S-0")
	defer s.Close()
	got := takeAll(s)
	if !slices.Equal(got, []string{"gap:" + GapUnavailable, "10"}) {
		t.Errorf("got %q, want a gap then 10, what the log holds", got)
	}
}
