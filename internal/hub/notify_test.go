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

// TestJoinLeaveKeepsWaitingListBounded: a subscriber that joins and leaves
// a quiet topic again and again (a chat page entering and leaving a room)
// does not grow the topic's waiting list with each round.
func TestJoinLeaveKeepsWaitingListBounded(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	stay, _, _ := subscribe(t, h, "", "room") // keeps the topic followed
	defer stay.Close()
	w, _, _ := subscribe(t, h, "", "lobby")
	defer w.Close()
	const rounds = 10_000
	for range rounds {
		if err := w.Join("room"); err != nil {
			t.Fatal(err)
		}
		if msgs := w.take(t); len(msgs) != 0 { // waits on room too
			t.Fatalf("Join replayed %q", datas(msgs))
		}
		w.Leave("room")
	}
	h.mu.Lock()
	tp := h.lookup("room")
	h.mu.Unlock()
	tp.waitMu.Lock()
	n := len(tp.waiting)
	tp.waitMu.Unlock()
	if n > 2+64 {
		t.Fatalf("after %d rounds of Join and Leave, the waiting list of a topic with one subscriber holds %d entries", rounds, n)
	}
	publish(t, h, "room", "r1")
	if got := datas(waitTake(t, stay, 1)); len(got) != 1 || got[0] != "r1" {
		t.Fatalf("the subscriber that stayed got %q", got)
	}
}

// TestCloseBeforeNotify: a hub closed between a Subscribe and its Notify
// (a ws connection still in its handshake when Shutdown runs) ends the
// subscriber without a data race, and its writer learns of the end.
func TestCloseBeforeNotify(t *testing.T) {
	for range 50 {
		h := newHub(t, Options{})
		s, err := h.Subscribe(context.Background(), []string{"a"}, "")
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan struct{})
		go func() {
			h.Close()
			close(closed)
		}()
		woken := make(chan struct{}, 2)
		s.Notify(func() {
			select {
			case woken <- struct{}{}:
			default:
			}
		})
		<-woken
		<-closed
		if msgs, gap := s.Take(nil); len(msgs) != 0 || gap != nil || s.Err() == nil {
			t.Fatalf("after Close: %d messages, gap %v, err %v", len(msgs), gap, s.Err())
		}
	}
}
