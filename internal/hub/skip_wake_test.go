package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// A skip (SkipTo, or PublishAt past skipped numbers) makes a hole in every
// topic, which a live subscriber takes as a gap or from the Source: a
// writer whose Take is between reading a topic and going on its waiting
// list when the skip hands the list out must still be woken, or it waits
// for the next message of its topics, which may never come. The writer's
// Take runs while SkipTo does, many times, with the skip at a different
// moment of the Take each time; after each, a writer not woken must have
// nothing to take. (Many topics widen the window.)
//
// On a filtered hub, the hole is that of one topic: a message too large
// for its log, which PublishAt refuses and SkipTo passes; and a message
// applied above the watermark is announced by the SkipTo that passes it.
func TestSkipWakesWriterGoingToWait(t *testing.T) {
	big := make([]byte, 2000)
	for _, c := range []struct {
		name string
		opts Options
		skip func(h *Hub) error
	}{
		{"SkipTo", Options{Epoch: "S"}, func(h *Hub) error { return h.SkipTo(lastSeq(h) + 1) }},
		{"filtered PublishAt too large", Options{Epoch: "S", Filtered: true, HistoryBytes: 1000}, func(h *Hub) error {
			seq := lastSeq(h) + 1
			_, err := h.PublishAt(seq, "t00", func(string) []byte { return big })
			if !errors.Is(err, ErrTooLarge) {
				return fmt.Errorf("PublishAt too large: %v", err)
			}
			return h.SkipTo(seq) // the watermark makes the hole readable
		}},
		{"filtered SkipTo past a message", Options{Epoch: "S", Filtered: true}, func(h *Hub) error {
			// A message of one of the writer's topics above the watermark
			// (the number before it is another topic's), which the SkipTo
			// that passes it announces.
			seq := lastSeq(h) + 2
			topic := fmt.Sprintf("t%02d", (seq*37)%64)
			if _, err := h.PublishAt(seq, topic, func(string) []byte { return []byte("x") }); err != nil {
				return err
			}
			return h.SkipTo(seq)
		}},
	} {
		t.Run(c.name, func(t *testing.T) { testSkipWakes(t, c.opts, c.skip) })
	}
}

func testSkipWakes(t *testing.T, opts Options, skip func(*Hub) error) {
	h := newHub(t, opts)
	defer h.Close()
	var topics []string
	for i := range 64 {
		topics = append(topics, fmt.Sprintf("t%02d", i))
	}
	s, err := h.Subscribe(context.Background(), topics, "")
	if err != nil {
		t.Fatal(err)
	}
	var woken atomic.Bool
	s.Notify(func() { woken.Store(true) })
	var spin atomic.Int64 // delays the skip by i%200 steps
	missed := 0
	for i := range 5000 {
		seq := lastSeq(h) + 1
		if _, err := h.PublishAt(seq, "t00", func(string) []byte { return []byte("x") }); err != nil {
			t.Fatal(err)
		}
		if opts.Filtered {
			if err := h.SkipTo(seq); err != nil {
				t.Fatal(err)
			}
		}
		started := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the writer: takes until Take leaves it waiting
			defer wg.Done()
			close(started)
			for {
				woken.Store(false)
				if msgs, gap := s.Take(nil); len(msgs) == 0 && gap == nil {
					return
				}
			}
		}()
		<-started
		for range i % 200 {
			spin.Add(1)
		}
		if err := skip(h); err != nil {
			t.Fatal(err)
		}
		wg.Wait() // SkipTo woke whom it woke before it returned
		if woken.Load() {
			continue
		}
		if msgs, gap := s.Take(nil); len(msgs) > 0 || gap != nil {
			if missed++; missed <= 3 {
				t.Errorf("skip %d: the writer was left waiting, with %d messages and gap %v to take", i, len(msgs), gap)
			}
		}
	}
	if missed > 0 {
		t.Errorf("%d of 5000 skips left the writer waiting with something to take", missed)
	}
}
