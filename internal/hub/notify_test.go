package hub

import (
	"context"
	"sync/atomic"
	"testing"
)

// TestNotify: a Notify callback runs at once, then when a message arrives
// for a subscriber whose last Take found nothing, and when it ends.
func TestNotify(t *testing.T) {
	h := newHub(t, Options{})
	s, err := h.Subscribe(context.Background(), []string{"t"}, "")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	s.Notify(func() { calls.Add(1) })
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls from Notify, want 1", n)
	}
	publish(t, h, "t", "before any take")
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls before the writer took anything, want 1", n)
	}
	if msgs, _ := s.Take(nil); len(msgs) != 1 {
		t.Fatalf("took %d, want 1", len(msgs))
	}
	publish(t, h, "t", "not waiting yet")
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls although the last Take returned a message, want 1", n)
	}
	s.Take(nil)
	if msgs, _ := s.Take(nil); len(msgs) != 0 {
		t.Fatalf("took %d, want none", len(msgs))
	}
	publish(t, h, "t", "wakes")
	publish(t, h, "t", "no second wake")
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls after a Take found nothing, want 2", n)
	}
	s.Close()
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d calls after Close, want 3", n)
	}
	h.Close()
}
