package hub

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestJoinFromReplaysThenLive: topics joined from a resume point get what
// their logs hold after it, oldest first, before newer messages, and then
// go on live with the subscriber's other topics; nothing twice.
func TestJoinFromReplaysThenLive(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	defer s.Close()
	publish(t, h, "a", "a1") // E-1
	publish(t, h, "b", "b1") // E-2
	publish(t, h, "a", "a2") // E-3
	publish(t, h, "b", "b2") // E-4
	publish(t, h, "c", "c1") // E-5
	if got := datas(s.take(t)); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("before the join: %q", got)
	}
	if err := s.JoinFrom("E-1", "b", "c", "a"); err != nil {
		t.Fatal(err)
	}
	if !s.Replaying() {
		t.Error("not replaying after JoinFrom")
	}
	publish(t, h, "a", "a3") // E-6, after the join: comes after the replay
	msgs, gap := s.Take(nil)
	if gap != nil {
		t.Errorf("unexpected gap %+v", gap)
	}
	if got := datas(msgs); !slices.Equal(got, []string{"b1", "b2", "c1", "a3"}) {
		t.Errorf("after JoinFrom(E-1): %q, want b1 b2 c1 a3", got)
	}
	if s.Replaying() {
		t.Error("still replaying once the replay was taken")
	}
	publish(t, h, "b", "b3")
	publish(t, h, "a", "a4")
	if got := datas(s.take(t)); !slices.Equal(got, []string{"b3", "a4"}) {
		t.Errorf("live after the replay: %q", got)
	}
	if st := h.Stats(); st.Replayed != 3 || st.Gaps != 0 {
		t.Errorf("stats %+v, want 3 replayed and no gap", st)
	}
}

// TestJoinFromGaps: the gap rules of a resume apply to JoinFrom, and the
// gap comes before what the logs hold.
func TestJoinFromGaps(t *testing.T) {
	tests := []struct {
		lastID string
		reason string
		resume string
		replay []string
	}{
		{"E-1", GapExceeded, "E-2", []string{"3", "4", "5"}},
		{"E-2", "", "", []string{"3", "4", "5"}},
		{"E-4", "", "", []string{"5"}},
		{"E-6", "", "", nil},
		{"F-4", GapUnknownEpoch, "E-2", []string{"3", "4", "5"}},
		{"E-9", GapFuture, "E-6", nil},
		{"garbage", GapMalformed, "E-2", []string{"3", "4", "5"}},
		{strings.Repeat("x", 1<<20), GapMalformed, "E-2", []string{"3", "4", "5"}},
	}
	for _, tt := range tests {
		t.Run(tt.lastID[:min(len(tt.lastID), 20)], func(t *testing.T) {
			h := newHub(t, Options{Epoch: "E", HistorySize: 3})
			defer h.Close()
			for i := 1; i <= 5; i++ {
				publish(t, h, "b", fmt.Sprint(i)) // E-1 to E-5
			}
			publish(t, h, "a", "x") // E-6
			s, _, _ := subscribe(t, h, "", "a")
			defer s.Close()
			if err := s.JoinFrom(tt.lastID, "b"); err != nil {
				t.Fatal(err)
			}
			msgs, gap := s.Take(nil)
			switch {
			case tt.reason == "" && gap != nil:
				t.Errorf("unexpected gap: %s", gap.Reason)
			case tt.reason != "" && gap == nil:
				t.Errorf("no gap, want %q", tt.reason)
			case gap != nil && (gap.Reason != tt.reason || gap.Resume != tt.resume || gap.LastID != tt.lastID[:min(len(tt.lastID), MaxIDLength)]):
				t.Errorf("gap after %.20q: %s, resume %s; want reason %q, resume %s", gap.LastID, gap.Reason, gap.Resume, tt.reason, tt.resume)
			}
			if got := datas(msgs); !slices.Equal(got, tt.replay) {
				t.Errorf("replay %q, want %q", got, tt.replay)
			}
			publish(t, h, "b", "live")
			if got := datas(s.take(t)); !slices.Equal(got, []string{"live"}) {
				t.Errorf("after the replay: %q, want only the live message", got)
			}
		})
	}
}

// TestJoinFromLongReplay: a replay larger than one Take is taken in order
// over several, before any newer message, each message once.
func TestJoinFromLongReplay(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", HistoryBytes: 8 << 20})
	defer h.Close()
	big := strings.Repeat("x", maxTakeBytes/2+1)
	publish(t, h, "a", "a1")
	for i := range 5 {
		publish(t, h, "b", fmt.Sprintf("b%d%s", i+1, big))
	}
	s, _, _ := subscribe(t, h, "", "a")
	defer s.Close()
	publish(t, h, "a", "a2")
	if err := s.JoinFrom("E-1", "b"); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "b", "b6")
	var got []string
	takes := 0
	for msgs := s.take(t); len(msgs) > 0; msgs = s.take(t) {
		takes++
		for _, d := range datas(msgs) {
			got = append(got, d[:2])
		}
	}
	if want := []string{"b1", "b2", "b3", "b4", "b5", "a2", "b6"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if takes < 3 {
		t.Errorf("%d Takes for 2.5 MiB, want each bounded to about 1 MiB", takes)
	}
}

// TestJoinFromLeaveAndErrors: leaving a topic in its replay drops the
// replay; JoinFrom refuses what Join refuses, and ignores topics followed
// already.
func TestJoinFromLeaveAndErrors(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", MaxTopicsPerSubscriber: 2})
	defer h.Close()
	publish(t, h, "a", "a1")
	publish(t, h, "b", "b1")
	s, _, _ := subscribe(t, h, "", "a")
	if err := s.JoinFrom("E-0", "b"); err != nil {
		t.Fatal(err)
	}
	s.Leave("b")
	if s.Replaying() {
		t.Error("replaying a topic it left")
	}
	if got := datas(s.take(t)); len(got) != 0 {
		t.Errorf("got %q after leaving the joined topic", got)
	}
	if err := s.JoinFrom("E-0", "a"); err != nil || s.Replaying() {
		t.Errorf("JoinFrom a followed topic: %v, replaying %v", err, s.Replaying())
	}
	if err := s.JoinFrom("E-0", "b", "c"); !errors.Is(err, ErrTooManyTopics) {
		t.Errorf("JoinFrom past MaxTopicsPerSubscriber: %v", err)
	}
	if err := s.JoinFrom("E-0", ""); !errors.Is(err, ErrInvalidTopic) {
		t.Errorf("JoinFrom an empty topic: %v", err)
	}
	s.Close()
	if err := s.JoinFrom("E-0", "b"); !errors.Is(err, ErrUnsubscribed) {
		t.Errorf("JoinFrom after Close: %v", err)
	}
}
