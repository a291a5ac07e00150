package hub

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestFilteredRefusedAboveHeadIsOneGap: a message that PublishAt refuses
// (too large) while the watermark is below it is one hole of its topic, at
// its number. As the watermark climbs to it one number at a time (the
// messages of other topics between), the topic's subscriber gets no gap
// (and the Source no call) before the watermark reaches the hole, and then
// one gap (or one call), not one per step of the watermark.
func TestFilteredRefusedAboveHeadIsOneGap(t *testing.T) {
	for _, withSource := range []bool{false, true} {
		t.Run(fmt.Sprintf("source=%v", withSource), func(t *testing.T) {
			var st stream
			calls := 0
			opts := Options{Epoch: "E", Filtered: true, HistoryBytes: 4 * (messageOverhead + 10)}
			if withSource {
				opts.Source = st.source("E", &calls)
			}
			h := newHub(t, opts)
			defer h.Close()
			s, _, _ := subscribe(t, h, "", "a")
			defer s.Close()
			for seq := uint64(1); seq <= 4; seq++ {
				st.add(seq, "b", fmt.Sprintf("b%d", seq))
			}
			st.add(5, "a", "a5-big")
			st.add(6, "a", "a6")
			// a's applier is ahead: its message 5 is refused before the
			// watermark reaches it.
			if _, err := h.PublishAt(5, "a", func(string) []byte { return make([]byte, 4*messageOverhead) }); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("PublishAt too large: %v", err)
			}
			var got []string
			for w := uint64(1); w <= 4; w++ {
				skipTo(t, h, w) // b's messages, which this hub does not apply
				if g := takeAll(s.Subscriber); len(g) > 0 || calls > 0 {
					t.Errorf("watermark %d, below the refused message 5: got %q, %d calls of the Source", w, g, calls)
				}
			}
			skipTo(t, h, 5)
			got = append(got, takeAll(s.Subscriber)...)
			if _, err := h.PublishAt(6, "a", func(string) []byte { return []byte("a6") }); err != nil {
				t.Fatal(err)
			}
			skipTo(t, h, 6)
			got = append(got, takeAll(s.Subscriber)...)
			gaps := 0
			for _, g := range got {
				if g == "gap:"+GapTooSlow {
					gaps++
				}
			}
			if withSource {
				if calls != 1 {
					t.Errorf("%d calls of the Source for one hole, want 1 (got %q)", calls, got)
				}
			} else if gaps != 1 {
				t.Errorf("%d gaps for one hole, want 1: %q", gaps, got)
			}
			if got[len(got)-1] != "a6" {
				t.Errorf("got %q, want a6 last", got)
			}
		})
	}
}

// TestFilteredForgottenHoleIsNotOtherTopics: a topic forgotten (its last
// subscriber left, or a sweep) while it holds a hole above the watermark
// (a message refused as too large, not yet passed) must not lend that hole
// to the topics made afterwards: their first subscriber starts at the
// watermark, the applier delivers each of their messages after it, and it
// gets them with no gap.
func TestFilteredForgottenHoleIsNotOtherTopics(t *testing.T) {
	big := func(string) []byte { return make([]byte, 4*messageOverhead) }
	for _, c := range []struct {
		name   string
		forget func(t *testing.T, h *Hub)
	}{
		{"leave", func(t *testing.T, h *Hub) {
			x, _, _ := subscribe(t, h, "", "a")
			if _, err := h.PublishAt(5, "a", big); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("PublishAt too large: %v", err)
			}
			x.Close() // a's last subscriber
		}},
		{"sweep", func(t *testing.T, h *Hub) {
			if _, err := h.PublishAt(5, "a", big); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("PublishAt too large: %v", err)
			}
			time.Sleep(time.Minute) // the sweep is due
			if _, err := h.PublishAt(2, "z", func(string) []byte { return []byte("z2") }); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHub(t, Options{Epoch: "E", Filtered: true, HistoryBytes: 4 * (messageOverhead + 10), HistoryAge: time.Minute})
				defer h.Close()
				skipTo(t, h, 1)
				c.forget(t, h)
				s, _, _ := subscribe(t, h, "", "c") // c is made now, at the watermark 1
				defer s.Close()
				if _, err := h.PublishAt(3, "c", func(string) []byte { return []byte("c3") }); err != nil {
					t.Fatal(err)
				}
				skipTo(t, h, 4)
				got := takeAll(s.Subscriber)
				if _, err := h.PublishAt(6, "c", func(string) []byte { return []byte("c6") }); err != nil {
					t.Fatal(err)
				}
				skipTo(t, h, 6) // past a's hole
				select {
				case <-s.ready:
				default:
					// Not woken: it must have nothing to take.
				}
				got = append(got, takeAll(s.Subscriber)...)
				if !slices.Equal(got, []string{"c3", "c6"}) {
					t.Errorf("subscriber of c, made after a was forgotten with a hole at 5: got %q, want c3 c6 and no gap", got)
				}
			})
		})
	}
}
