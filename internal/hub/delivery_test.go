package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// badEpochs cannot stand in an ID: each is refused where it is set.
var badEpochs = []string{"E\nid: injected", "tab\there", "space here", strings.Repeat("x", MaxEpochLength+1), "caf\u00e9"}

func TestEpochValidatedAtNew(t *testing.T) {
	for _, epoch := range badEpochs {
		if _, err := New(Options{Epoch: epoch}); err == nil {
			t.Errorf("New with epoch %q succeeded", epoch)
		}
	}
	for _, epoch := range []string{"E", "Xk3f_-9", strings.Repeat("x", MaxEpochLength), NewEpoch()} {
		h, err := New(Options{Epoch: epoch})
		if err != nil {
			t.Errorf("New with epoch %q: %v", epoch, err)
			continue
		}
		m := publish(t, h, "a", "x")
		if e, seq, ok := ParseID(FormatID(epoch, 1<<64-1)); !ok || e != epoch || m.Seq != 1 || seq != 1<<64-1 {
			t.Errorf("epoch %q: the largest ID does not parse back", epoch)
		}
	}
}

// TestWakeOutsideLock: the hub wakes writers after releasing its lock, so
// a writer slow to wake on one topic holds up no publish to another.
func TestWakeOutsideLock(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	s, err := h.Subscribe(context.Background(), []string{"big"}, "")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	waking := make(chan struct{}, 1)
	s.Notify(func() {})
	s.Take(nil) // waits on "big" now
	blocking := func() { waking <- struct{}{}; <-release }
	s.notify.Store(&blocking)
	go h.Publish("big", func(string) []byte { return nil })
	<-waking // the publisher is inside the wake-up
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Publish("small", func(string) []byte { return nil })
		if s2, err := h.Subscribe(context.Background(), []string{"small"}, ""); err == nil {
			s2.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a publish and a subscribe waited for another topic's wake-up")
	}
	close(release)
}

// TestResumeAfterTopicForgotten: a topic dropped from memory leaves enough
// behind that a resume from before its messages is a gap.
func TestResumeAfterTopicForgotten(t *testing.T) {
	t.Run("aged out", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHub(t, Options{Epoch: "E", HistoryAge: time.Minute})
			defer h.Close()
			publish(t, h, "gone", "x")
			time.Sleep(2 * time.Minute) // in the test's bubble: no real wait
			publish(t, h, "other", "sweeps")
			if st := h.Stats(); st.Topics != 1 {
				t.Fatalf("%d topics, want the aged one forgotten", st.Topics)
			}
			_, replay, gap := subscribe(t, h, "E-0", "gone")
			if gap == nil || gap.Reason != GapExceeded || len(replay) != 0 {
				t.Fatalf("resume into a forgotten topic: gap %v, replay %q", gap, datas(replay))
			}
		})
	})
	t.Run("no history", func(t *testing.T) {
		h := newHub(t, Options{Epoch: "E", HistorySize: -1})
		defer h.Close()
		s, _, _ := subscribe(t, h, "", "gone")
		publish(t, h, "gone", "x")
		s.take(t)
		s.Close()
		if st := h.Stats(); st.Topics != 0 {
			t.Fatalf("%d topics, want none", st.Topics)
		}
		_, _, gap := subscribe(t, h, "E-0", "gone")
		if gap == nil {
			t.Fatal("resume from before a message, with no history, is not a gap")
		}
	})
}

// TestBurstWithinHistoryBytes: a subscriber that has not taken anything
// while a burst was published gets all of it, in Takes of bounded size.
func TestBurstWithinHistoryBytes(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	const n = 5000
	for i := range n {
		publish(t, h, "a", fmt.Sprintf("%05d %090d", i, 0))
	}
	var got []*Message
	for len(got) < n {
		msgs := s.take(t)
		if len(msgs) == 0 {
			t.Fatalf("got %d of %d", len(got), n)
		}
		got = append(got, msgs...)
	}
	for i, m := range got {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has Seq %d", i, m.Seq)
		}
	}
}

// TestJoinWakes: a subscriber waiting on its topics is woken by a message
// on a topic it joined later.
func TestJoinWakes(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	<-s.ready // from Notify
	if err := s.Join("b"); err != nil {
		t.Fatal(err)
	}
	<-s.ready // Join
	if msgs := s.take(t); len(msgs) != 0 {
		t.Fatalf("Join replayed %q", datas(msgs))
	}
	publish(t, h, "b", "b1")
	if got := datas(waitTake(t, s, 1)); !slices.Equal(got, []string{"b1"}) {
		t.Errorf("got %q", got)
	}
}

// TestResumeAfterTopicForgottenAndRecreated: a topic whose messages aged
// out and that was forgotten, then published to again, still tells a
// resume from before the lost messages that it missed them.
func TestResumeAfterTopicForgottenAndRecreated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, Options{Epoch: "E", HistoryAge: time.Minute})
		defer h.Close()
		first := publish(t, h, "a", "a1")
		publish(t, h, "a", "a2 (lost)")
		time.Sleep(2 * time.Minute) // in the test's bubble: no real wait
		publish(t, h, "other", "sweeps")
		if st := h.Stats(); st.Topics != 1 {
			t.Fatalf("%d topics, want the aged one forgotten", st.Topics)
		}
		publish(t, h, "a", "a3")
		_, replay, gap := subscribe(t, h, first.ID, "a")
		if gap == nil || gap.Reason != GapExceeded {
			t.Fatalf("resume from %s after a2 aged out: gap %v, replay %q; want a gap", first.ID, gap, datas(replay))
		}
	})
}
