package hub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestFilteredSkipToWakesWriterGoingToWait: on a filtered hub, a message
// PublishAt applied above the watermark is announced by the SkipTo that
// passes it. A writer whose Take is between reading its topics and going
// on their waiting lists when that SkipTo runs must still be woken, or it
// waits for the next message of its topics, which may never come. The
// writer's Take runs while SkipTo does, many times, the SkipTo at a
// different moment of the Take each time, for a message of a different one
// of the writer's 64 topics; after each, a writer not woken must have
// nothing to take.
func TestFilteredSkipToWakesWriterGoingToWait(t *testing.T) {
	h := newHub(t, Options{Epoch: "S", Filtered: true})
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
	var spin atomic.Int64 // delays the SkipTo by i%200 steps
	missed := 0
	const rounds = 3000
	for i := range rounds {
		// A message of another topic first (the watermark passes numbers
		// this hub does not apply), then one of the writer's, above it.
		seq := lastSeq(h) + 2
		if _, err := h.PublishAt(seq, topics[(i*37)%64], func(string) []byte { return []byte("x") }); err != nil {
			t.Fatal(err)
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
		if err := h.SkipTo(seq); err != nil {
			t.Fatal(err)
		}
		wg.Wait() // SkipTo woke whom it woke before it returned
		if woken.Load() {
			continue
		}
		if msgs, gap := s.Take(nil); len(msgs) > 0 || gap != nil {
			if missed++; missed <= 3 {
				t.Errorf("SkipTo %d: the writer was left waiting, with %d messages and gap %v to take", seq, len(msgs), gap)
			}
		}
	}
	if missed > 0 {
		t.Errorf("%d of %d SkipTo calls left the writer waiting with something to take", missed, rounds)
	}
}
