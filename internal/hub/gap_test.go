package hub

import (
	"context"
	"fmt"
	"testing"
)

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
