package hub

import (
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
