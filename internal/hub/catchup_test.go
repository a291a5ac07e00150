package hub

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Resumes ahead of the hub that end before CatchUpWait, by Close or by
// Hub.Close, leave no timer behind: their writers are not woken again at
// the deadline, and many at once cost no goroutine.
func TestAheadTimersStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, Options{Epoch: "S", CatchUpWait: time.Second})
		if err := h.SkipTo(5); err != nil {
			t.Fatal(err)
		}
		var wakes atomic.Int64
		subs := make([]*Subscriber, 500)
		for i := range subs {
			s, err := h.Subscribe(context.Background(), []string{"a"}, fmt.Sprintf("S-%d", 10+i))
			if err != nil {
				t.Fatal(err)
			}
			s.Notify(func() { wakes.Add(1) })
			if msgs, gap := s.Take(nil); len(msgs) != 0 || gap != nil {
				t.Fatalf("ahead resume took %d messages, gap %v", len(msgs), gap)
			}
			subs[i] = s
		}
		for _, s := range subs[:250] {
			s.Close()
		}
		h.Close()
		before := wakes.Load() // each: Notify's call, and its end
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if after := wakes.Load(); after != before {
			t.Errorf("%d writers were woken after their subscribers ended", after-before)
		}
		if before != 2*int64(len(subs)) {
			t.Errorf("%d wake-ups, want %d", before, 2*len(subs))
		}
	})
}

// A Join while the subscriber resumed ahead of the hub and waits for it
// starts at the subscriber's position, as on a hub caught up: the joined
// topic's messages before that position would come with IDs below the
// one the client resumed from, and a client that resumes from its last ID
// would then get the other topics' messages twice.
func TestJoinWhileAhead(t *testing.T) {
	h := newHub(t, Options{Epoch: "S", CatchUpWait: time.Hour})
	defer h.Close()
	if err := h.SkipTo(5); err != nil {
		t.Fatal(err)
	}
	s, err := h.Subscribe(context.Background(), []string{"a"}, "S-10")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := takeAll(s); len(got) != 0 {
		t.Fatalf("ahead of the hub, took %q", got)
	}
	if err := s.Join("b"); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(6); seq <= 12; seq++ {
		h.PublishAt(seq, []string{"a", "b"}[seq%2], func(string) []byte { return []byte(fmt.Sprint(seq)) })
	}
	if got := takeAll(s); !slices.Equal(got, []string{"11", "12"}) {
		t.Errorf("got %q, want 11 and 12, the messages after S-10", got)
	}
}

// The catch-up deadline passing before Notify (a writer that starts late):
// the timer finds no function to call, and Notify's own call makes the
// writer take the gap.
func TestCatchUpDeadlineBeforeNotify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, Options{Epoch: "S", CatchUpWait: time.Second})
		defer h.Close()
		if err := h.SkipTo(5); err != nil {
			t.Fatal(err)
		}
		s, err := h.Subscribe(context.Background(), []string{"a"}, "S-9")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		var woken atomic.Int64
		s.Notify(func() { woken.Add(1) })
		if n := woken.Load(); n != 1 {
			t.Errorf("Notify's own call: %d calls, want 1", n)
		}
		msgs, gap := s.Take(nil)
		if len(msgs) != 0 || gap == nil || gap.Reason != GapFuture || gap.Resume != "S-5" {
			t.Errorf("took %d messages, gap %+v; want a future gap alone, resume from S-5", len(msgs), gap)
		}
		if _, err := h.PublishAt(6, "a", func(string) []byte { return []byte("6") }); err != nil {
			t.Fatal(err)
		}
		if got := takeAll(s); !slices.Equal(got, []string{"6"}) {
			t.Errorf("then %q, want 6", got)
		}
	})
}
