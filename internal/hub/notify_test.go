package hub

import (
	"sync/atomic"
	"testing"
)

// TestNotify: a Notify callback runs when messages start waiting and when
// the subscriber ends, and at once for what is pending.
func TestNotify(t *testing.T) {
	h := New(Options{})
	s, _, _, err := h.Subscribe([]string{"t"}, "")
	if err != nil {
		t.Fatal(err)
	}
	publish(t, h, "t", "before")
	<-s.Ready() // signalled before Notify
	var calls atomic.Int32
	s.Notify(func() { calls.Add(1) })
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls for a pending message, want 1", n)
	}
	publish(t, h, "t", "queued behind")
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls while the queue was not empty, want 1", n)
	}
	s.Take(nil)
	publish(t, h, "t", "after take")
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls after the queue emptied, want 2", n)
	}
	select {
	case <-s.Ready():
		t.Fatal("Ready signalled although Notify is set")
	default:
	}
	s.Close()
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d calls after Close, want 3", n)
	}
}
