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

// sourceHub returns a hub of epoch E whose logs hold one message of 10
// bytes per topic, with a Source serving st.
func sourceHub(t *testing.T, st *stream, opts Options) *Hub {
	t.Helper()
	var calls int
	opts.Epoch = "E"
	if opts.HistoryBytes == 0 {
		opts.HistoryBytes = messageOverhead + 10
	}
	opts.Source = st.source("E", &calls)
	h := newHub(t, opts)
	t.Cleanup(h.Close)
	return h
}

// pub publishes data (10 bytes) to topic on h and adds it to st, as the
// shared stream holds every message.
func pub(t *testing.T, h *Hub, st *stream, topic, data string) *Message {
	t.Helper()
	m := publish(t, h, topic, fmt.Sprintf("%-10s", data))
	st.add(m.Seq, topic, string(m.Data))
	return m
}

// trimmed returns takeAll's result with the padding of pub removed.
func trimmed(s *Subscriber) []string {
	got := takeAll(s)
	for i, g := range got {
		got[i] = strings.TrimRight(g, " ")
	}
	return got
}

// A topic joined while a replay from the Source is pending is part of the
// replay from where it was joined: its messages published meanwhile come,
// in order. (The replay asked the Source for the topics it started with
// only, and moved past b:3 in silence.)
func TestJoinDuringSourceReplay(t *testing.T) {
	st := &stream{}
	h := sourceHub(t, st, Options{})
	pub(t, h, st, "a", "a1")
	pub(t, h, st, "a", "a2") // evicts a1
	s, err := h.Subscribe(context.Background(), []string{"a"}, "E-0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Join("b"); err != nil {
		t.Fatal(err)
	}
	pub(t, h, st, "b", "b3")
	pub(t, h, st, "a", "a4")
	pub(t, h, st, "a", "a5")
	if got, want := trimmed(s), []string{"a1", "a2", "b3", "a4", "a5"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Leave ends a topic at once, replay from the Source included.
func TestLeaveDuringSourceReplay(t *testing.T) {
	st := &stream{}
	h := sourceHub(t, st, Options{})
	for i := range 4 {
		pub(t, h, st, "a", fmt.Sprint("a", i))
		pub(t, h, st, "b", fmt.Sprint("b", i))
	}
	s, err := h.Subscribe(context.Background(), []string{"a", "b"}, "E-0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Leave("b")
	if got, want := trimmed(s), []string{"a0", "a1", "a2", "a3"}; !slices.Equal(got, want) {
		t.Fatalf("after Leave(b) got %q, want %q", got, want)
	}
}

// Join promises nothing from before it, even while the subscriber catches
// up from the Source.
func TestJoinNoPastFromSource(t *testing.T) {
	st := &stream{}
	h := sourceHub(t, st, Options{})
	s, err := h.Subscribe(context.Background(), []string{"a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub(t, h, st, "b", "b1")
	for i := range 3 { // evicts a's first two: s lags
		pub(t, h, st, "a", fmt.Sprint("a", i))
	}
	if err := s.Join("b"); err != nil {
		t.Fatal(err)
	}
	if got, want := trimmed(s), []string{"a0", "a1", "a2"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q (b1 was published before Join)", got, want)
	}
}

// A gap waiting to be taken (here a GapFuture, from an ID ahead of a hub
// without CatchUpWait) does not keep the Source from serving what a topic
// lost meanwhile: a gap after an ID past those messages would not name
// them.
func TestPendingGapDoesNotSwallowLag(t *testing.T) {
	st := &stream{}
	h := sourceHub(t, st, Options{CatchUpWait: -1})
	s, err := h.Subscribe(context.Background(), []string{"a"}, "E-100")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 4 {
		pub(t, h, st, "a", fmt.Sprint("a", i))
	}
	got := trimmed(s)
	if want := []string{"gap:" + GapFuture, "a0", "a1", "a2", "a3"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// A skip (PublishAt over a number, or SkipTo) wakes the writers of every
// topic: one parked on b, whose message the hub skipped, has the Source's
// part to take.
func TestSkipWakesWriters(t *testing.T) {
	for _, skipTo := range []bool{false, true} {
		t.Run(fmt.Sprint("SkipTo=", skipTo), func(t *testing.T) {
			st := &stream{}
			h := sourceHub(t, st, Options{HistoryBytes: 1 << 20})
			st.add(1, "a", "a1")
			st.apply(t, h, 1)
			s, _, _ := subscribe(t, h, "", "b")
			if msgs := s.take(t); len(msgs) != 0 {
				t.Fatalf("took %q", datas(msgs))
			}
			<-s.ready // Notify's own call
			st.add(2, "b", "b2")
			if skipTo {
				if err := h.SkipTo(2); err != nil {
					t.Fatal(err)
				}
			} else {
				st.add(3, "a", "a3")
				st.apply(t, h, 3)
			}
			select {
			case <-s.ready:
			default:
				t.Fatal("the writer parked on b was not woken by the skip")
			}
			if got := takeAll(s.Subscriber); !slices.Equal(got, []string{"b2"}) {
				t.Fatalf("got %q, want b2 from the Source", got)
			}
		})
	}
}

// A Source that panics costs its subscriber a gap, not the process: the
// hub recovers it, whatever adapter is in front.
func TestSourcePanics(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", HistoryBytes: messageOverhead + 1,
		Source: func(context.Context, []string, uint64, uint64, func(*Message) bool) error {
			panic("bug in the Source")
		}})
	defer h.Close()
	publish(t, h, "a", "1")
	publish(t, h, "a", "2")
	s, _, gap := subscribe(t, h, "E-0", "a")
	defer s.Close()
	if gap == nil || gap.Reason != GapUnavailable || gap.Err == nil {
		t.Fatalf("gap %+v, want %q with the panic as Err", gap, GapUnavailable)
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
}

// A replay budget below one call's least room (ReplayBytes under 64 KiB)
// still lets replays from the Source run, one at a time.
func TestSmallReplayBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &stream{}
		h := sourceHub(t, st, Options{ReplayBytes: 1000})
		pub(t, h, st, "a", "a1")
		pub(t, h, st, "a", "a2")
		s, err := h.Subscribe(context.Background(), []string{"a"}, "E-0")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		done := make(chan []string)
		go func() { done <- trimmed(s) }()
		select {
		case got := <-done:
			if want := []string{"a1", "a2"}; !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(time.Hour):
			s.Close()
			<-done
			t.Fatal("Take waited for ever for room in the replay budget")
		}
	})
}

// One skip is one gap: a writer that takes while PublishAt has marked the
// skipped numbers but not yet made its message readable gets the gap, and
// no second one for the same range once it is.
func TestOneSkipOneGap(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	if _, err := h.PublishAt(1, "a", func(string) []byte { return nil }); err != nil {
		t.Fatal(err)
	}
	s, _, _ := subscribe(t, h, "", "b")
	var gaps []*Gap
	_, err := h.PublishAt(5, "a", func(string) []byte {
		// The skip of 2-4 is marked; message 5 is not readable yet.
		if _, gap := s.Take(nil); gap != nil {
			gaps = append(gaps, gap)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, gap := s.Take(nil); gap != nil {
			gaps = append(gaps, gap)
		}
	}
	if len(gaps) != 1 {
		for _, g := range gaps {
			t.Logf("gap after %s to %s: %s", g.LastID, g.Resume, g.Reason)
		}
		t.Fatalf("%d gaps for one skip, want 1", len(gaps))
	}
}

// A second skip's gap starts where the first one's ended, even when the
// writer has taken nothing in between: it names only the new hole.
func TestSkipGapsDoNotOverlap(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	if _, err := h.PublishAt(1, "a", func(string) []byte { return nil }); err != nil {
		t.Fatal(err)
	}
	s, _, _ := subscribe(t, h, "", "b")
	var gaps []*Gap
	for _, seq := range []uint64{5, 9} {
		_, err := h.PublishAt(seq, "a", func(string) []byte {
			if _, gap := s.Take(nil); gap != nil { // marked, not yet readable
				gaps = append(gaps, gap)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(gaps) != 2 {
		t.Fatalf("%d gaps, want one per skip", len(gaps))
	}
	if gaps[0].Resume != "E-4" || gaps[1].LastID != "E-4" || gaps[1].Resume != "E-8" {
		t.Fatalf("gaps (%s, %s] and (%s, %s], want (E-1, E-4] and (E-4, E-8]", gaps[0].LastID, gaps[0].Resume, gaps[1].LastID, gaps[1].Resume)
	}
}
