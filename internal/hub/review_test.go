package hub

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

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
	tp := h.topics["room"]
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

// TestGapsOnlyWhereEvicted: a subscriber of two topics that falls behind
// on one gets one gap and then what is left, in order; a subscriber of the
// other topic, and one that joined the flooded topic after its evictions,
// get none.
func TestGapsOnlyWhereEvicted(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", HistoryBytes: 8 * (messageOverhead + 10)})
	defer h.Close()
	both, _, _ := subscribe(t, h, "", "flood", "quiet")
	quiet, _, _ := subscribe(t, h, "", "quiet")
	publish(t, h, "quiet", "q1")
	for i := range 30 {
		publish(t, h, "flood", fmt.Sprintf("f%09d", i)) // 10 bytes each
	}
	late, _, _ := subscribe(t, h, "", "quiet")
	if err := late.Join("flood"); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "quiet", "q2")
	publish(t, h, "flood", "f-last....")

	msgs, gap := both.Take(nil)
	if gap == nil || gap.Reason != GapTooSlow {
		t.Fatalf("subscriber that fell behind: gap %v, messages %q", gap, datas(msgs))
	}
	// What the logs hold after its position, q1 (never evicted) first.
	if len(msgs) < 3 || string(msgs[0].Data) != "q1" || string(msgs[len(msgs)-1].Data) != "f-last...." {
		t.Fatalf("after the gap: %q", datas(msgs))
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].Seq <= msgs[i-1].Seq {
			t.Fatalf("out of order after the gap: %q", datas(msgs))
		}
	}
	if got := datas(quiet.take(t)); len(got) != 2 || got[0] != "q1" || got[1] != "q2" {
		t.Fatalf("subscriber of the quiet topic got %q", got)
	}
	if got := datas(late.take(t)); len(got) != 2 || got[0] != "q2" || got[1] != "f-last...." {
		t.Fatalf("subscriber that joined after the evictions got %q", got)
	}
	if st := h.Stats(); st.Lagged != 1 || st.Gaps != 0 {
		t.Fatalf("stats %+v, want one lagged subscriber and no resume gap", st)
	}
}

// TestStatsResumeGapDuringReplay: a resume whose replay is evicted before
// its writer takes it reports "history exceeded", and Stats count it with
// the resumes that reported a gap, not with the live subscribers that fell
// behind.
func TestStatsResumeGapDuringReplay(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", HistoryBytes: 4 * (messageOverhead + 10)})
	defer h.Close()
	first := publish(t, h, "a", "a000000001")
	publish(t, h, "a", "a000000002")
	s, err := h.Subscribe(context.Background(), []string{"a"}, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 10 { // evicts the replay before the first Take
		publish(t, h, "a", fmt.Sprintf("b%09d", i))
	}
	s.Notify(func() {})
	_, gap := s.Take(nil)
	if gap == nil || gap.Reason != GapExceeded {
		t.Fatalf("gap %v, want history exceeded", gap)
	}
	if st := h.Stats(); st.Gaps != 1 || st.Lagged != 0 {
		t.Fatalf("stats %+v, want Gaps 1 and Lagged 0", st)
	}
}
