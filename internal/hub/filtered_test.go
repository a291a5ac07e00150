package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// applyTopics publishes to h the messages of st from seq from on whose
// topic is in topics, as a node on a stream filtered by topic applies it,
// then moves its watermark to the stream's last message.
func (st *stream) applyTopics(t testing.TB, h *Hub, from uint64, topics ...string) {
	t.Helper()
	for _, m := range st.from(from) {
		if !slices.Contains(topics, m.Topic) {
			continue
		}
		if _, err := h.PublishAt(m.Seq, m.Topic, func(string) []byte { return m.Data }); err != nil {
			t.Fatalf("PublishAt(%d): %v", m.Seq, err)
		}
	}
	skipTo(t, h, st.last().Seq)
}

// skipTo moves a filtered hub's watermark to seq.
func skipTo(t testing.TB, h *Hub, seq uint64) {
	t.Helper()
	if err := h.SkipTo(seq); err != nil {
		t.Fatalf("SkipTo(%d): %v", seq, err)
	}
}

// TestFilteredJumpIsNoGap: on a filtered hub, the numbers a topic's
// messages jump over are other topics' messages: the topic's live
// subscribers and its resumes get no gap and no call of the Source, with
// a Source or without one.
func TestFilteredJumpIsNoGap(t *testing.T) {
	for _, withSource := range []bool{false, true} {
		t.Run(fmt.Sprintf("source=%v", withSource), func(t *testing.T) {
			var st stream
			calls := 0
			opts := Options{Epoch: "E", Filtered: true}
			if withSource {
				opts.Source = st.source("E", &calls)
			}
			h := newHub(t, opts)
			defer h.Close()
			live, _, _ := subscribe(t, h, "", "a")
			defer live.Close()
			st.add(1, "a", "a1")
			st.add(2, "b", "b2")
			st.add(3, "b", "b3")
			st.add(4, "a", "a4")
			st.add(5, "c", "c5")
			st.add(6, "a", "a6")
			st.applyTopics(t, h, 0, "a")
			if got := takeAll(live.Subscriber); !slices.Equal(got, []string{"a1", "a4", "a6"}) {
				t.Fatalf("live subscriber of a got %q", got)
			}
			resumed, replay, gap := subscribe(t, h, FormatID("E", 1), "a")
			defer resumed.Close()
			if gap != nil || !slices.Equal(datas(replay), []string{"a4", "a6"}) {
				t.Fatalf("resume from E-1: gap %v, replay %q", gap, datas(replay))
			}
			if calls != 0 {
				t.Fatalf("the Source was called %d times for holes of other topics", calls)
			}
			if st := h.Stats(); st.Gaps != 0 || st.Lagged != 0 {
				t.Fatalf("stats %+v, want no gap", st)
			}
		})
	}
}

// TestFilteredFirstSubscriberHole: a filtered hub keeps no message of a
// topic without subscribers (it may have stopped applying it). A topic's
// first subscriber that resumes from before it came gets the topic's
// messages up to then from the Source, once, then the live ones; with no
// Source, a gap: a real hole of the topic is still one.
func TestFilteredFirstSubscriberHole(t *testing.T) {
	for _, withSource := range []bool{false, true} {
		t.Run(fmt.Sprintf("source=%v", withSource), func(t *testing.T) {
			var st stream
			calls := 0
			opts := Options{Epoch: "E", Filtered: true}
			if withSource {
				opts.Source = st.source("E", &calls)
			}
			h := newHub(t, opts)
			defer h.Close()
			other, _, _ := subscribe(t, h, "", "b")
			defer other.Close()
			st.add(1, "a", "a1")
			st.add(2, "b", "b2")
			st.add(3, "a", "a3")
			st.add(4, "b", "b4")
			// The node applies a while no one follows it, then b only.
			st.applyTopics(t, h, 0, "a", "b")
			if h.Stats().Topics != 1 {
				t.Fatalf("topics %d: a topic with no subscriber was kept", h.Stats().Topics)
			}
			s, replay, gap := subscribe(t, h, FormatID("E", 1), "a")
			defer s.Close()
			st.add(5, "a", "a5")
			st.applyTopics(t, h, 5, "a", "b")
			got := append(datas(replay), takeAll(s.Subscriber)...)
			if withSource {
				if gap != nil || !slices.Equal(got, []string{"a3", "a5"}) || calls != 1 {
					t.Fatalf("first subscriber: gap %v, got %q, %d calls of the Source", gap, got, calls)
				}
				return
			}
			if gap == nil || gap.Reason != GapExceeded || gap.Resume != FormatID("E", 4) {
				t.Fatalf("first subscriber without a Source: gap %v, want history exceeded up to E-4", gap)
			}
			if !slices.Equal(got, []string{"a5"}) {
				t.Fatalf("after the gap: %q", got)
			}
		})
	}
}

// TestFilteredLastLeaveForgets: on a filtered hub a topic's history lasts
// while it has subscribers; a subscriber that comes after the last one
// left resumes from the Source.
func TestFilteredLastLeaveForgets(t *testing.T) {
	var st stream
	calls := 0
	h := newHub(t, Options{Epoch: "E", Filtered: true, Source: st.source("E", &calls)})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	st.add(1, "a", "a1")
	st.add(2, "a", "a2")
	st.applyTopics(t, h, 0, "a")
	s.Close()
	if n := h.Stats().Topics; n != 0 {
		t.Fatalf("topics %d after the last subscriber left", n)
	}
	st.add(3, "a", "a3") // the node stopped applying a
	st.add(4, "b", "b4")
	st.applyTopics(t, h, 3, "b")
	r, replay, gap := subscribe(t, h, FormatID("E", 1), "a")
	defer r.Close()
	if gap != nil || !slices.Equal(datas(replay), []string{"a2", "a3"}) || calls != 1 {
		t.Fatalf("resume after the topic was forgotten: gap %v, replay %q, %d calls", gap, datas(replay), calls)
	}
}

// TestFilteredResumeAhead: a resume from an ID ahead of a filtered hub
// (the hub applies other topics than the node the client left) starts
// after it at once: no catch-up wait, no gap, the topic's messages up to
// the ID are not sent again and those after it are.
func TestFilteredResumeAhead(t *testing.T) {
	var st stream
	calls := 0
	h := newHub(t, Options{Epoch: "E", Filtered: true, Source: st.source("E", &calls)})
	defer h.Close()
	st.add(1, "b", "b1")
	st.applyTopics(t, h, 0, "b")
	s, err := h.Subscribe(context.Background(), []string{"a"}, FormatID("E", 3))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Notify(func() {})
	if got := takeAll(s); len(got) != 0 {
		t.Fatalf("before the hub reached the ID: %q", got)
	}
	st.add(2, "a", "a2")
	st.add(3, "a", "a3")
	st.add(4, "a", "a4")
	st.applyTopics(t, h, 2, "a")
	if got := takeAll(s); !slices.Equal(got, []string{"a4"}) || calls != 0 {
		t.Fatalf("got %q with %d calls of the Source, want a4 only", got, calls)
	}
}

// TestFilteredTooSlowIsGap: a live subscriber of a filtered hub that falls
// HistoryBytes behind on its topic still gets a gap.
func TestFilteredTooSlowIsGap(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", Filtered: true, HistoryBytes: 4 * (messageOverhead + 10)})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	defer s.Close()
	for i := range 10 {
		seq := uint64(2*i + 1) // every other number is another topic's
		if _, err := h.PublishAt(seq, "a", func(string) []byte { return []byte(fmt.Sprintf("a%09d", i)) }); err != nil {
			t.Fatal(err)
		}
	}
	skipTo(t, h, 20)
	got := takeAll(s.Subscriber)
	if len(got) == 0 || got[0] != "gap:"+GapTooSlow || got[len(got)-1] != "a000000009" {
		t.Fatalf("subscriber that fell behind got %q", got)
	}
}

// TestFilteredRefusedIsHole: on a filtered hub, a message of a topic that
// PublishAt refuses (larger than the log) is that topic's hole: its
// subscribers get it from the Source, or a gap, though the next jump is
// no topic's hole.
func TestFilteredRefusedIsHole(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", Filtered: true, HistoryBytes: 4 * (messageOverhead + 10)})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	defer s.Close()
	if _, err := h.PublishAt(1, "a", func(string) []byte { return []byte("a1") }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PublishAt(2, "a", func(string) []byte { return make([]byte, 4*messageOverhead) }); err == nil {
		t.Fatal("a message larger than the log was applied")
	}
	if _, err := h.PublishAt(5, "a", func(string) []byte { return []byte("a5") }); err != nil {
		t.Fatal(err)
	}
	skipTo(t, h, 6)
	got := takeAll(s.Subscriber)
	// The gap names (0, 2]; a1, in that range and in the log, follows it.
	if !slices.Equal(got, []string{"gap:" + GapTooSlow, "a1", "a5"}) && !slices.Equal(got, []string{"a1", "gap:" + GapTooSlow, "a5"}) {
		t.Fatalf("got %q, want a gap for the refused message, and a1 and a5", got)
	}
}

// TestFilteredLoadedTopicIsHole: a filtered hub that restored a topic's
// history with Load did not apply that topic while it had no subscriber:
// a resume on it after the hub moved on is a gap, not the old log alone.
func TestFilteredLoadedTopicIsHole(t *testing.T) {
	src := newHub(t, Options{Epoch: "E"})
	publish(t, src, "a", "a1")
	publish(t, src, "a", "a2")
	var saved bytes.Buffer
	if err := src.Save(&saved); err != nil {
		t.Fatal(err)
	}
	h := newHub(t, Options{Epoch: "E", Filtered: true})
	defer h.Close()
	if err := h.Load(&saved); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PublishAt(5, "b", func(string) []byte { return []byte("b5") }); err != nil {
		t.Fatal(err) // a3 and a4 may have been published meanwhile
	}
	skipTo(t, h, 5)
	s, replay, gap := subscribe(t, h, "E-1", "a")
	defer s.Close()
	if gap == nil || gap.Resume != "E-5" {
		t.Fatalf("resume on a restored topic: gap %v, replay %q; want a gap up to E-5", gap, datas(replay))
	}
}

// TestFilteredAboveHeadKeptForFirstSubscriber: a message of a topic with
// no subscriber, applied while another topic's message below it is not
// yet, waits above the head; a first subscriber that arrives meanwhile
// starts at the head and gets it once the watermark passes it. One that
// arrives after resumes it from the Source: the head dropped it.
func TestFilteredAboveHeadKeptForFirstSubscriber(t *testing.T) {
	var st stream
	calls := 0
	h := newHub(t, Options{Epoch: "E", Filtered: true, Source: st.source("E", &calls)})
	defer h.Close()
	st.add(1, "b", "b1")
	st.add(2, "a", "a2")
	st.add(3, "c", "c3")
	// a's applier is ahead of b's: a2 is applied, b1 not yet.
	if _, err := h.PublishAt(2, "a", func(string) []byte { return []byte("a2") }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PublishAt(3, "c", func(string) []byte { return []byte("c3") }); err != nil {
		t.Fatal(err)
	}
	s, replay, gap := subscribe(t, h, "", "a")
	defer s.Close()
	if gap != nil || len(replay) != 0 {
		t.Fatalf("subscribe from now: gap %v, replay %q", gap, datas(replay))
	}
	if got := takeAll(s.Subscriber); len(got) != 0 {
		t.Fatalf("before the watermark reached it: %q", got)
	}
	if _, err := h.PublishAt(1, "b", func(string) []byte { return []byte("b1") }); err != nil {
		t.Fatal(err)
	}
	skipTo(t, h, 3)
	if got := takeAll(s.Subscriber); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("got %q, want a2", got)
	}
	if n := h.Stats().Topics; n != 1 {
		t.Fatalf("topics %d once the watermark passed the messages of topics with no subscriber", n)
	}
	late, replay, gap := subscribe(t, h, "E-0", "c")
	defer late.Close()
	if gap != nil || !slices.Equal(datas(replay), []string{"c3"}) || calls != 1 {
		t.Fatalf("resume of a topic dropped: gap %v, replay %q, %d calls of the Source", gap, datas(replay), calls)
	}
}

// TestFilteredParallelAppliers: a filtered hub applied by one goroutine
// per shard of topics, as a cluster node does, with the watermark moved by
// whichever applier completes a message: subscribers of topics on
// different shards get every message of their topics once, in the
// stream's order, those there from the start and those that come while
// the appliers run (with a topic nobody followed before).
func TestFilteredParallelAppliers(t *testing.T) {
	const n = 4000
	topics := []string{"a", "b", "c", "d", "e", "f", "g", "z"} // z: another node's
	h := newHub(t, Options{Epoch: "E", Filtered: true, HistoryBytes: 1 << 20})
	defer h.Close()
	stream := make([]string, n+1) // seq to topic
	for seq := 1; seq <= n; seq++ {
		stream[seq] = topics[(seq*7+seq/3)%len(topics)]
	}
	type want struct {
		r      *reader
		topics []string
		after  uint64 // every message of its topics after it must come
		before uint64 // none up to it may
		err    chan error
	}
	var readers []*want
	read := func(w *want) { // as its writer: until its topics' last message
		last := uint64(0)
		for seq := range uint64(n + 1) {
			if slices.Contains(w.topics, stream[seq]) {
				last = seq
			}
		}
		w.err = make(chan error, 1)
		go func() {
			w.err <- w.r.until(func() bool { return len(w.r.got) > 0 && w.r.got[len(w.r.got)-1].Seq >= last })
		}()
		readers = append(readers, w)
	}
	for _, ts := range [][]string{{"a", "b"}, {"c", "f"}, {"a", "c", "e"}, {"b", "d", "f"}} {
		read(&want{r: newReader(t, h, "", ts...), topics: ts})
	}

	shard := map[string]int{"a": 0, "b": 1, "c": 2, "d": 0, "e": 1, "f": 2, "g": 0}
	ap := startAppliers(t, h, stream, 3, func(topic string) int { return shard[topic] })
	for seq := uint64(1); seq <= n; seq++ {
		if seq == n/2 {
			ts := []string{"g", "b"}
			before := lastSeq(h)
			late := &want{r: newReader(t, h, "", ts...), topics: ts, before: before}
			late.after = lastSeq(h)
			read(late)
		}
		ap.apply(seq)
	}
	ap.finish()
	for _, w := range readers {
		var expect []uint64
		for seq := w.after + 1; seq <= n; seq++ {
			if slices.Contains(w.topics, stream[seq]) {
				expect = append(expect, seq)
			}
		}
		if err := <-w.err; err != nil {
			t.Fatalf("subscriber of %v: %v", w.topics, err)
		}
		var got []uint64
		for _, m := range w.r.got {
			if m.Seq <= w.before || !slices.Contains(w.topics, m.Topic) {
				t.Fatalf("subscriber of %v from %d got %s of %s", w.topics, w.before, m.ID, m.Topic)
			}
			if m.Seq > w.after {
				got = append(got, m.Seq)
			}
		}
		if !slices.Equal(got, expect) {
			t.Fatalf("subscriber of %v: got %d messages after %d, want %d", w.topics, len(got), w.after, len(expect))
		}
	}
}

// appliers apply a stream to a filtered hub as a cluster node does: a
// goroutine per shard of topics applies its numbers in order with
// PublishAt, and the watermark moves as each number completes.
type appliers struct {
	stream   []string // the topic of each number; "z" is another node's
	shardOf  func(topic string) int
	shards   []chan uint64
	complete func(seq uint64)
	wg       sync.WaitGroup
}

// startAppliers starts shards appliers of stream on h.
func startAppliers(t testing.TB, h *Hub, stream []string, shards int, shardOf func(topic string) int) *appliers {
	a := &appliers{stream: stream, shardOf: shardOf, shards: make([]chan uint64, shards), complete: watermark(t, h)}
	for i := range a.shards {
		a.shards[i] = make(chan uint64, 64)
		a.wg.Go(func() {
			for seq := range a.shards[i] {
				topic := stream[seq]
				if _, err := h.PublishAt(seq, topic, func(id string) []byte { return []byte(id) }); err != nil {
					t.Errorf("PublishAt(%d, %s): %v", seq, topic, err)
				}
				a.complete(seq)
			}
		})
	}
	return a
}

// apply hands seq to the applier of its topic; another node's number
// completes at once.
func (a *appliers) apply(seq uint64) {
	if topic := a.stream[seq]; topic != "z" {
		a.shards[a.shardOf(topic)] <- seq
	} else {
		a.complete(seq)
	}
}

// finish waits until the appliers applied every number handed out.
func (a *appliers) finish() {
	for _, c := range a.shards {
		close(c)
	}
	a.wg.Wait()
}

// watermark returns the completion of a filtered hub's appliers: each
// calls it once it applied a number (or found it another node's), and it
// moves the watermark, the highest number with every one up to it
// applied, with SkipTo.
func watermark(t testing.TB, h *Hub) func(seq uint64) {
	var mu sync.Mutex
	done := make(map[uint64]bool)
	var mark uint64
	return func(seq uint64) {
		mu.Lock()
		done[seq] = true
		moved := false
		for done[mark+1] {
			delete(done, mark+1)
			mark++
			moved = true
		}
		w := mark
		mu.Unlock()
		if moved {
			if err := h.SkipTo(w); err != nil && !errors.Is(err, ErrStale) {
				t.Errorf("SkipTo(%d): %v", w, err)
			}
		}
	}
}
