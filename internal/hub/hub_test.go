package hub

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

func TestPublishReachesSubscribersOfTopicOnly(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	a, _, _ := subscribe(t, h, "", "a")
	ab, _, _ := subscribe(t, h, "", "a", "b")
	b, _, _ := subscribe(t, h, "", "b")

	m1 := publish(t, h, "a", "one")
	publish(t, h, "b", "two")
	publish(t, h, "a", "three")

	if got := datas(waitTake(t, a, 2)); !slices.Equal(got, []string{"one", "three"}) {
		t.Errorf("a got %q", got)
	}
	if got := datas(waitTake(t, ab, 3)); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("ab got %q", got)
	}
	if got := datas(waitTake(t, b, 1)); !slices.Equal(got, []string{"two"}) {
		t.Errorf("b got %q", got)
	}
	if m1.Seq != 1 || m1.ID != h.Epoch()+"-1" || m1.Topic != "a" {
		t.Errorf("first message = %+v", m1)
	}
	if st := h.Stats(); st.Published != 3 || st.Delivered != 6 || st.Subscribers != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEncodeGetsTheID(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	for i := 1; i <= 3; i++ {
		m, err := h.Publish("t", func(id string) []byte { return []byte("id:" + id) })
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("id:E-%d", i); string(m.Data) != want {
			t.Errorf("data = %q, want %q", m.Data, want)
		}
	}
	if got := h.LastID(); got != "E-3" {
		t.Errorf("LastID = %q", got)
	}
}

func TestReplayAfterIDAcrossTopicsInOrder(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	publish(t, h, "a", "a1")
	last := publish(t, h, "b", "b1")
	publish(t, h, "a", "a2")
	publish(t, h, "c", "c1")
	publish(t, h, "b", "b2")
	publish(t, h, "a", "a3")

	s, replay, gap := subscribe(t, h, last.ID, "a", "b")
	defer s.Close()
	if gap != nil {
		t.Fatalf("unexpected gap %v", gap)
	}
	if got := datas(replay); !slices.Equal(got, []string{"a2", "b2", "a3"}) {
		t.Errorf("replay = %q", got)
	}
	// What comes next is queued, never replayed twice.
	publish(t, h, "b", "b3")
	if got := datas(waitTake(t, s, 1)); !slices.Equal(got, []string{"b3"}) {
		t.Errorf("live = %q", got)
	}
	if st := h.Stats(); st.Replayed != 3 || st.Gaps != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestResumeFromZeroReplaysEverything(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	publish(t, h, "a", "x")
	publish(t, h, "b", "y")
	publish(t, h, "a", "z")
	s, replay, gap := subscribe(t, h, "E-0", "a")
	defer s.Close()
	if gap != nil {
		t.Errorf("unexpected gap %v", gap)
	}
	if got := datas(replay); !slices.Equal(got, []string{"x", "z"}) {
		t.Errorf("replay = %q", got)
	}
}

func TestResumeFromLatestReplaysNothing(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	m := publish(t, h, "a", "x")
	s, replay, gap := subscribe(t, h, m.ID, "a")
	defer s.Close()
	if len(replay) != 0 || gap != nil {
		t.Errorf("replay %q gap %v", datas(replay), gap)
	}
}

func TestGaps(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", HistorySize: 3, CatchUpWait: -1})
	defer h.Close()
	for i := 1; i <= 5; i++ {
		publish(t, h, "a", fmt.Sprint(i))
	}
	tests := []struct {
		lastID string
		reason string
		replay []string
	}{
		{"E-1", "history exceeded", []string{"3", "4", "5"}},
		{"E-2", "", []string{"3", "4", "5"}},
		{"E-4", "", []string{"5"}},
		{"F-4", "unknown epoch", []string{"3", "4", "5"}},
		{"E-9", "future id", nil},
		{"garbage", "malformed id", []string{"3", "4", "5"}},
		{"E-", "malformed id", []string{"3", "4", "5"}},
		{"E-0", "history exceeded", []string{"3", "4", "5"}},
		{"E--1", "unknown epoch", []string{"3", "4", "5"}},
		{"E-" + strings.Repeat("9", 100), "malformed id", []string{"3", "4", "5"}},
		{strings.Repeat("x", 1<<20), "malformed id", []string{"3", "4", "5"}},
	}
	for _, tt := range tests {
		name := tt.lastID
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			s, replay, gap := subscribe(t, h, tt.lastID, "a")
			defer s.Close()
			switch {
			case tt.reason == "" && gap != nil:
				t.Errorf("unexpected gap %v", gap)
			case tt.reason != "" && gap == nil:
				t.Errorf("no gap, want %q", tt.reason)
			case gap != nil && gap.Reason != tt.reason:
				t.Errorf("gap reason %q, want %q", gap.Reason, tt.reason)
			case gap != nil && len(tt.replay) > 0 && gap.Resume != "E-2":
				t.Errorf("gap resumes from %q, want E-2, just before the replay", gap.Resume)
			case gap != nil && len(tt.replay) == 0 && gap.Resume != "E-5":
				t.Errorf("gap resumes from %q, want E-5, the last ID", gap.Resume)
			}
			if got := datas(replay); !slices.Equal(got, tt.replay) {
				t.Errorf("replay %q, want %q", got, tt.replay)
			}
		})
	}
}

func TestGapWhenHistoryAged(t *testing.T) { synctest.Test(t, testGapWhenHistoryAged) }

func testGapWhenHistoryAged(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", HistoryAge: time.Minute})
	defer h.Close()
	first := publish(t, h, "a", "old")
	publish(t, h, "a", "older")
	time.Sleep(2 * time.Minute) // in the test's bubble: no real wait
	publish(t, h, "a", "new")

	s, replay, gap := subscribe(t, h, first.ID, "a")
	defer s.Close()
	if gap == nil || gap.Reason != "history exceeded" {
		t.Fatalf("gap = %v, want history exceeded", gap)
	}
	if got := datas(replay); !slices.Equal(got, []string{"new"}) {
		t.Errorf("replay = %q", got)
	}
}

func TestNoHistory(t *testing.T) {
	h := newHub(t, Options{HistorySize: -1, Epoch: "E"})
	defer h.Close()
	m := publish(t, h, "a", "x")
	publish(t, h, "a", "y")
	s, replay, gap := subscribe(t, h, m.ID, "a")
	defer s.Close()
	if gap == nil || len(replay) != 0 {
		t.Fatalf("gap %v replay %q", gap, datas(replay))
	}
	if gap.Resume != "E-2" {
		t.Errorf("gap resumes from %q, want the last ID, E-2", gap.Resume)
	}
	_, _, gap = subscribe(t, newHub(t, Options{Epoch: "F"}), "E-1", "a")
	if gap == nil || gap.Resume != "F-0" {
		t.Errorf("gap on an empty hub = %+v, want to resume from F-0", gap)
	}
}

func TestSweepForgetsOldTopics(t *testing.T) { synctest.Test(t, testSweepForgetsOldTopics) }

func testSweepForgetsOldTopics(t *testing.T) {
	h := newHub(t, Options{HistoryAge: time.Minute})
	defer h.Close()
	for i := range 100 {
		publish(t, h, fmt.Sprint("t", i), "x")
	}
	time.Sleep(2 * time.Minute) // in the test's bubble: no real wait
	publish(t, h, "fresh", "x")
	if n := h.Stats().Topics; n != 1 {
		t.Errorf("topics after sweep = %d, want 1", n)
	}
}

// TestLaggingSubscriberGetsGap: a subscriber that falls HistoryBytes
// behind is told it missed messages and goes on from what the log holds;
// it is not ended, and a fast one misses nothing.
func TestLaggingSubscriberGetsGap(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", HistoryBytes: 4 * (messageOverhead + 1)})
	defer h.Close()
	slow, _, _ := subscribe(t, h, "", "a")
	fast, _, _ := subscribe(t, h, "", "a")
	var got []*Message
	for i := range 10 {
		publish(t, h, "a", fmt.Sprint(i))
		got = append(got, fast.take(t)...)
	}
	if got := datas(got); len(got) != 10 {
		t.Errorf("fast got %q, want all 10", got)
	}
	msgs, gap := slow.Take(nil)
	if gap == nil || gap.Reason != GapTooSlow || gap.LastID != "E-0" || gap.Resume != "E-6" {
		t.Fatalf("slow got gap %+v, want %q from E-0, resuming from E-6", gap, GapTooSlow)
	}
	if got := datas(msgs); !slices.Equal(got, []string{"6", "7", "8", "9"}) {
		t.Errorf("after the gap slow got %q", got)
	}
	if slow.Err() != nil || fast.Err() != nil {
		t.Errorf("errors %v %v, want both live", slow.Err(), fast.Err())
	}
	publish(t, h, "a", "10")
	if got := datas(slow.take(t)); !slices.Equal(got, []string{"10"}) {
		t.Errorf("slow then got %q", got)
	}
	if st := h.Stats(); st.Lagged != 1 || st.Subscribers != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestLimits(t *testing.T) {
	h := newHub(t, Options{MaxSubscribers: 2, MaxTopicsPerSubscriber: 2})
	defer h.Close()
	s1, _, _ := subscribe(t, h, "", "a")
	subscribe(t, h, "", "a", "b", "a") // duplicates count once
	if _, err := h.Subscribe(context.Background(), []string{"a"}, ""); !errors.Is(err, ErrTooManySubscribers) {
		t.Errorf("third subscriber: err = %v", err)
	}
	s1.Close()
	s3, _, _ := subscribe(t, h, "", "c")
	if _, err := h.Subscribe(context.Background(), []string{"a", "b", "c"}, ""); !errors.Is(err, ErrTooManyTopics) {
		t.Errorf("three topics: err = %v", err)
	}
	if err := s3.Join("d"); err != nil {
		t.Fatal(err)
	}
	if err := s3.Join("e"); !errors.Is(err, ErrTooManyTopics) {
		t.Errorf("join past limit: err = %v", err)
	}
	if got := s3.Topics(); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("topics = %q", got)
	}
}

func TestInvalidTopics(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	for _, name := range []string{"", strings.Repeat("x", MaxTopicLength+1), "a\nb", "a\x00", "\xff", "bad\u0085"} {
		if _, err := h.Publish(name, nil); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("Publish(%q): err = %v", name, err)
		}
		if _, err := h.Subscribe(context.Background(), []string{"ok", name}, ""); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("Subscribe(%q): err = %v", name, err)
		}
	}
	for _, name := range []string{"a", "prices/ACME", "salle café", strings.Repeat("x", MaxTopicLength)} {
		if err := ValidTopic(name); err != nil {
			t.Errorf("ValidTopic(%q) = %v", name, err)
		}
	}
	if st := h.Stats(); st.Subscribers != 0 || st.Published != 0 {
		t.Errorf("bad input changed the hub: %+v", st)
	}
}

func TestJoinLeave(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	if err := s.Join("b", "a"); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "b", "b1")
	s.Leave("a", "zzz")
	publish(t, h, "a", "a1")
	publish(t, h, "b", "b2")
	if got := datas(waitTake(t, s, 2)); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Errorf("got %q", got)
	}
	s.Close()
	if err := s.Join("c"); !errors.Is(err, ErrUnsubscribed) {
		t.Errorf("Join after Close: %v", err)
	}
}

func TestCloseEndsEveryone(t *testing.T) {
	h := newHub(t, Options{})
	var wg sync.WaitGroup
	for range 100 {
		s, _, _ := subscribe(t, h, "", "a")
		wg.Go(func() {
			for range s.ready {
				s.Take(nil)
				if s.Err() != nil {
					return
				}
			}
		})
	}
	publish(t, h, "a", "x")
	h.Close()
	h.Close()
	wg.Wait()
	if _, err := h.Publish("a", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if _, err := h.Subscribe(context.Background(), []string{"a"}, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if st := h.Stats(); st.Subscribers != 0 {
		t.Errorf("subscribers after Close = %d", st.Subscribers)
	}
}

// TestConcurrentOrder has publishers on several topics and subscribers that
// come and go, and checks every subscriber sees increasing sequence numbers
// with nothing missing for the topics it follows.
func TestConcurrentOrder(t *testing.T) {
	leakcheck.Check(t)
	h := newHub(t, Options{})
	topics := []string{"a", "b", "c"}
	const perTopic = 500
	var wg sync.WaitGroup
	results := make(chan []*Message, 20)
	for i := range 20 {
		s, _, _ := subscribe(t, h, "", topics[i%3], topics[(i+1)%3])
		wg.Go(func() {
			var got, buf []*Message
			want := 2 * perTopic
			for len(got) < want {
				<-s.ready
				for buf, _ = s.Take(buf); len(buf) > 0; buf, _ = s.Take(buf) {
					got = append(got, buf...)
				}
				if s.Err() != nil {
					results <- got
					return
				}
			}
			s.Close()
			results <- got
		})
	}
	var pubs sync.WaitGroup
	for _, name := range topics {
		pubs.Go(func() {
			for i := range perTopic {
				publish(t, h, name, fmt.Sprint(i))
			}
		})
	}
	pubs.Wait()
	wg.Wait()
	close(results)
	for got := range results {
		if len(got) != 2*perTopic {
			t.Errorf("subscriber got %d messages, want %d", len(got), 2*perTopic)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq <= got[i-1].Seq {
				t.Fatalf("out of order: %d after %d", got[i].Seq, got[i-1].Seq)
			}
		}
	}
	h.Close()
}

func TestTakeReusesStorage(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	var buf []*Message
	for range 3 { // warm both buffers
		publish(t, h, "a", "x")
		buf, _ = s.Take(buf)
	}
	allocs := testing.AllocsPerRun(100, func() {
		h.Publish("a", func(string) []byte { return nil })
		buf, _ = s.Take(buf)
	})
	// Publish itself allocates the message and its ID; Take adds nothing.
	if allocs > 3 {
		t.Errorf("%v allocations per publish and take", allocs)
	}
}

func TestSaveLoad(t *testing.T) {
	h := newHub(t, Options{HistorySize: 3})
	publish(t, h, "a", "a1")
	publish(t, h, "a", "a2")
	mid := publish(t, h, "b", "b1")
	for i := 3; i <= 5; i++ {
		publish(t, h, "a", fmt.Sprint("a", i))
	}
	var saved bytes.Buffer
	if err := h.Save(&saved); err != nil {
		t.Fatal(err)
	}
	h.Close()

	h2 := newHub(t, Options{HistorySize: 3})
	defer h2.Close()
	if err := h2.Load(bytes.NewReader(saved.Bytes())); err != nil {
		t.Fatal(err)
	}
	if h2.Epoch() != h.Epoch() || h2.LastID() != h.LastID() {
		t.Fatalf("epoch/last %q %q, want %q %q", h2.Epoch(), h2.LastID(), h.Epoch(), h.LastID())
	}
	s, replay, gap := subscribe(t, h2, mid.ID, "a", "b")
	if gap != nil {
		t.Errorf("unexpected gap %v", gap)
	}
	if got := datas(replay); !slices.Equal(got, []string{"a3", "a4", "a5"}) {
		t.Errorf("replay = %q", got)
	}
	s.Close()
	// a2 left a's history before the save: resuming from before it is a gap.
	_, _, gap = subscribe(t, h2, h.Epoch()+"-1", "a")
	if gap == nil {
		t.Error("no gap resuming from before the saved history")
	}
	next := publish(t, h2, "a", "a6")
	if next.Seq != 7 {
		t.Errorf("sequence after load = %d, want 7", next.Seq)
	}

	if err := h2.Load(bytes.NewReader(saved.Bytes())); !errors.Is(err, ErrInUse) {
		t.Errorf("Load on a hub in use: %v, want ErrInUse", err)
	}
	if err := newHub(t, Options{}).Load(strings.NewReader("not a snapshot")); err == nil {
		t.Error("Load of garbage succeeded")
	}
	for _, epoch := range badEpochs {
		var b bytes.Buffer
		gob.NewEncoder(&b).Encode(&snapshot{Version: snapshotVersion, Epoch: epoch})
		var le *LoadError
		if err := newHub(t, Options{}).Load(&b); !errors.As(err, &le) || !strings.HasPrefix(le.Reason, "epoch: ") {
			t.Errorf("Load of a snapshot with epoch %q: %v, want a LoadError for the epoch", epoch, err)
		}
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		id    string
		epoch string
		seq   uint64
		ok    bool
	}{
		{"Xk3f-1042", "Xk3f", 1042, true},
		{"a-b-7", "a-b", 7, true},
		{"-7", "", 0, false},
		{"x-", "", 0, false},
		{"x-+7", "", 0, false},
		{"x-0", "x", 0, true},
		{"7", "", 0, false},
		{"", "", 0, false},
	}
	for _, tt := range tests {
		epoch, seq, ok := ParseID(tt.id)
		if epoch != tt.epoch || seq != tt.seq || ok != tt.ok {
			t.Errorf("ParseID(%q) = %q, %d, %v", tt.id, epoch, seq, ok)
		}
	}
}

func FuzzParseID(f *testing.F) {
	f.Add("Xk3f-1042")
	f.Add("a-b-0")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		epoch, seq, ok := ParseID(id)
		if !ok {
			return
		}
		if FormatID(epoch, seq) != id && !strings.HasPrefix(id[len(epoch)+1:], "0") {
			t.Errorf("ParseID(%q) = %q, %d does not format back", id, epoch, seq)
		}
	})
}
