package hub

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// What may happen while a subscriber's Take is in a call of the Source,
// which runs with no lock held: its owner or the hub ends it, its topics
// change, the logs age out, other replays wait for the budget.

// gatedSource serves st once each call is let through by gate; a call
// that is never let through waits until its subscriber ends. entered
// receives the topics of each call as it starts.
func gatedSource(st *stream, epoch string, entered chan<- []string, gate <-chan struct{}) Source {
	var calls int
	serve := st.source(epoch, &calls)
	return func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) error {
		entered <- topics
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		return serve(ctx, topics, after, upTo, yield)
	}
}

// resumeInFlight makes a hub whose topic a holds messages 1 to 10 in the
// stream and only the last in its log, and a subscriber of topics that
// resumed from the start, whose first Take runs on its own goroutine and
// is in the Source when it returns.
func resumeInFlight(t *testing.T, opts Options, topics ...string) (h *Hub, st *stream, s *Subscriber, gate chan struct{}, took <-chan []string) {
	st = &stream{}
	for seq := uint64(1); seq <= 10; seq++ {
		st.add(seq, "a", fmt.Sprint(seq))
	}
	entered := make(chan []string, 4)
	gate = make(chan struct{})
	opts.Epoch, opts.HistorySize = "S", 1
	opts.Source = gatedSource(st, "S", entered, gate)
	h = newHub(t, opts)
	st.apply(t, h, 1)
	s, err := h.Subscribe(context.Background(), topics, "S-0")
	if err != nil {
		t.Fatal(err)
	}
	s.Notify(func() {})
	out := make(chan []string, 1)
	go func() {
		var got []string
		msgs, gap := s.Take(nil)
		if gap != nil {
			got = append(got, "gap:"+gap.Reason)
		}
		out <- append(got, datas(msgs)...)
	}()
	if got := <-entered; fmt.Sprint(got) != fmt.Sprint(topics) {
		t.Fatalf("the Source was asked for %v, want %v", got, topics)
	}
	return h, st, s, gate, out
}

// Close and Hub.Close during a call of a Source that waits for its
// context: the call ends, Take returns nothing, the replay budget is whole
// again, and later Takes return nothing.
func TestCloseDuringSourceCall(t *testing.T) {
	for _, c := range []struct {
		name  string
		close func(*Hub, *Subscriber)
		want  error
	}{
		{"Close", func(_ *Hub, s *Subscriber) { s.Close() }, ErrUnsubscribed},
		{"Hub.Close", func(h *Hub, _ *Subscriber) { h.Close() }, ErrClosed},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, _, s, _, took := resumeInFlight(t, Options{}, "a")
				defer h.Close()
				synctest.Wait()
				c.close(h, s)
				if got := <-took; len(got) != 0 {
					t.Errorf("Take of an ended subscriber returned %q", got)
				}
				if err := s.Err(); !errors.Is(err, c.want) {
					t.Errorf("Err() = %v, want %v", err, c.want)
				}
				if msgs, gap := s.Take(nil); len(msgs) != 0 || gap != nil {
					t.Errorf("Take after Err: %q, gap %v", datas(msgs), gap)
				}
				if b := &h.replayBudget; b.free != b.total {
					t.Errorf("replay budget %d of %d free once the call ended", b.free, b.total)
				}
			})
		})
	}
}

// Hub.Close ends the Takes that wait for room in the replay budget, and
// gives back what the subscribers held.
func TestHubCloseWakesReplaysWaitingForRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &stream{}
		big := strings.Repeat("x", 40<<10)
		for seq := uint64(1); seq <= 10; seq++ {
			st.add(seq, "a", big)
		}
		var calls int
		h := newHub(t, Options{Epoch: "S", HistorySize: 1, ReplayBytes: minReplayChunk, Source: st.source("S", &calls)})
		st.apply(t, h, 1)
		holder, err := h.Subscribe(context.Background(), []string{"a"}, "S-0")
		if err != nil {
			t.Fatal(err)
		}
		holder.Notify(func() {})
		if msgs, _ := holder.Take(nil); len(msgs) == 0 {
			t.Fatal("the first replay took nothing")
		} // and does not write it: it holds the budget
		done := make(chan error, 3)
		for range 3 {
			s, err := h.Subscribe(context.Background(), []string{"a"}, "S-0")
			if err != nil {
				t.Fatal(err)
			}
			s.Notify(func() {})
			go func() {
				msgs, gap := s.Take(nil)
				if len(msgs) != 0 || gap != nil {
					done <- fmt.Errorf("took %d messages, gap %v, past the budget", len(msgs), gap)
					return
				}
				done <- s.Err()
			}()
		}
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("a replay past the budget returned: %v", err)
		default:
		}
		h.Close()
		for range 3 {
			if err := <-done; !errors.Is(err, ErrClosed) {
				t.Errorf("a waiting replay ended with %v, want ErrClosed", err)
			}
		}
		if b := &h.replayBudget; b.free != b.total {
			t.Errorf("replay budget %d of %d free once the hub closed", b.free, b.total)
		}
	})
}

// A subscriber that leaves and joins again the topic a call of the Source
// replays, while the call runs, gets none of the replay (it joined from
// now), and what is published next.
func TestLeaveJoinDuringSourceCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _, s, gate, took := resumeInFlight(t, Options{}, "a", "b")
		defer h.Close()
		s.Leave("a")
		if err := s.Join("a"); err != nil {
			t.Fatal(err)
		}
		publish(t, h, "a", "11")
		close(gate)
		got := <-took
		got = append(got, takeAll(s)...)
		if fmt.Sprint(got) != "[11]" {
			t.Errorf("got %q, want 11 alone: the replay was of the topic before it was left", got)
		}
	})
}

// Messages that age out of the log while a call of the Source runs are
// asked for in the next call: the replay misses none of them.
func TestHistoryAgeDuringSourceCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, st, s, gate, took := resumeInFlight(t, Options{HistoryAge: 10 * time.Second}, "a")
		defer h.Close()
		time.Sleep(20 * time.Second)
		st.add(11, "a", "11")
		st.apply(t, h, 11) // ages out 10, which the call does not cover
		close(gate)
		got := <-took
		got = append(got, takeAll(s)...)
		if want := "[1 2 3 4 5 6 7 8 9 10 11]"; fmt.Sprint(got) != want {
			t.Errorf("got %q, want %s", got, want)
		}
	})
}

// The sequence ends at math.MaxUint64: SkipTo and PublishAt reach it, a
// resume from it or from before it is served, and nothing wraps to 0.
func TestSequenceEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const end = uint64(math.MaxUint64)
		st := &stream{}
		st.add(end-2, "a", "x")
		st.add(end-1, "a", "y")
		st.add(end, "a", "z")
		var calls int
		h := newHub(t, Options{Epoch: "S", HistorySize: 1, Source: st.source("S", &calls)})
		defer h.Close()
		if err := h.SkipTo(end - 3); err != nil {
			t.Fatal(err)
		}
		live, _, gap := subscribe(t, h, "", "a")
		if gap != nil {
			t.Fatalf("live subscriber: gap %v", gap)
		}
		st.apply(t, h, end-2)
		if got := takeAll(live.Subscriber); fmt.Sprint(got) != "[x y z]" {
			t.Errorf("live subscriber got %q, want x y z", got)
		}
		if err := h.SkipTo(end); !errors.Is(err, ErrStale) {
			t.Errorf("SkipTo(end) at the end: %v, want ErrStale", err)
		}
		if _, err := h.PublishAt(end, "a", func(string) []byte { return nil }); !errors.Is(err, ErrStale) {
			t.Errorf("PublishAt(end) again: %v, want ErrStale", err)
		}
		for _, c := range []struct{ from, want string }{
			{FormatID("S", end-3), "[x y z]"},
			{FormatID("S", end-1), "[z]"},
			{FormatID("S", end), "[]"},
			{"S-18446744073709551616", "[gap:malformed id z]"},
		} {
			s, err := h.Subscribe(context.Background(), []string{"a"}, c.from)
			if err != nil {
				t.Fatal(err)
			}
			s.Notify(func() {})
			if got := takeAll(s); fmt.Sprint(got) != c.want {
				t.Errorf("resume from %s: %q, want %s", c.from, got, c.want)
			}
			s.Close()
		}
	})
}
