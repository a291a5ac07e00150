package hub

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestPublishWakesLongListOffThePublisher: a topic with more than
// maxWakeOnPublisher subscribers waiting is woken on a goroutine of its
// own, so that Publish returns and the publisher goes on while thousands
// of writers are woken (woken one by one on the publisher, each took one
// message and waited again, to be woken again by the next one). Here one
// writer's wake-up blocks until the test lets it go: Publish must still
// return. A short list is woken on the publisher, before Publish returns.
func TestPublishWakesLongListOffThePublisher(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	release := make(chan struct{})
	var woken atomic.Int64
	for i := range maxWakeOnPublisher + 1 {
		s, err := h.Subscribe(context.Background(), []string{"big"}, "")
		if err != nil {
			t.Fatal(err)
		}
		first := true
		s.Notify(func() {
			if first { // Notify's own call, on this goroutine
				first = false
				return
			}
			woken.Add(1)
			if i == 0 {
				<-release
			}
		})
		if msgs, gap := s.Take(nil); len(msgs) != 0 || gap != nil {
			t.Fatalf("took %d messages, gap %v, from an empty topic", len(msgs), gap)
		}
	}
	published := make(chan error, 1)
	go func() {
		_, err := h.Publish("big", func(string) []byte { return []byte("x") })
		published <- err
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		close(release)
		t.Fatal("Publish did not return while one writer's wake-up blocked")
	}
	close(release)

	small, err := h.Subscribe(context.Background(), []string{"small"}, "")
	if err != nil {
		t.Fatal(err)
	}
	var smallWoken atomic.Bool
	small.Notify(func() { smallWoken.Store(true) })
	smallWoken.Store(false)
	small.Take(nil)
	if _, err := h.Publish("small", func(string) []byte { return []byte("y") }); err != nil {
		t.Fatal(err)
	}
	if !smallWoken.Load() {
		t.Error("a short waiting list was not woken before Publish returned")
	}
}
