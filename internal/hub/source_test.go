package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestPublishAtStale(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	m, err := h.PublishAt(5, "a", func(id string) []byte { return []byte(id) })
	if err != nil || m.ID != "E-5" || string(m.Data) != "E-5" {
		t.Fatalf("PublishAt(5) = %+v, %v; want E-5", m, err)
	}
	for _, seq := range []uint64{0, 4, 5} {
		called := false
		_, err := h.PublishAt(seq, "a", func(string) []byte { called = true; return nil })
		if !errors.Is(err, ErrStale) || called {
			t.Errorf("PublishAt(%d) = %v (encoded: %v), want ErrStale and no encoding", seq, err, called)
		}
	}
	if m, err := h.Publish("a", func(string) []byte { return nil }); err != nil || m.Seq != 6 {
		t.Errorf("Publish after PublishAt(5) = %v, %v; want Seq 6", m, err)
	}
	if got := h.Stats().Published; got != 2 {
		t.Errorf("Published = %d, want 2: a stale message is not published", got)
	}
}

// A hub that skips sequence numbers did not apply the messages between: a
// resume from before them and a live subscriber behind them get a gap, not
// a silent hole.
func TestPublishAtSkipIsAGap(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	for seq := uint64(1); seq <= 3; seq++ {
		h.PublishAt(seq, "a", func(string) []byte { return []byte(fmt.Sprint(seq)) })
	}
	live, _, _ := subscribe(t, h, "", "a")
	defer live.Close()
	h.PublishAt(10, "a", func(string) []byte { return []byte("10") })

	if got := takeAll(live.Subscriber); !slices.Equal(got, []string{"gap:too slow", "10"}) {
		t.Errorf("live subscriber got %q, want a gap then 10", got)
	}
	for _, tt := range []struct {
		lastID string
		want   []string
	}{
		{"E-3", []string{"gap:history exceeded", "10"}},
		{"E-2", []string{"gap:history exceeded", "3", "10"}},
		{"E-9", []string{"10"}},
	} {
		s, err := h.Subscribe(context.Background(), []string{"a", "b"}, tt.lastID)
		if err != nil {
			t.Fatal(err)
		}
		if got := takeAll(s); !slices.Equal(got, tt.want) {
			t.Errorf("resume from %s got %q, want %q", tt.lastID, got, tt.want)
		}
		s.Close()
	}
}

// A hub that applied nothing yet takes the first sequence number it is
// given as its start: its live subscribers miss nothing, and a resume from
// before it is a gap (or served by the Source).
func TestPublishAtStartsAnywhere(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	live, _, _ := subscribe(t, h, "", "a")
	defer live.Close()
	h.PublishAt(100, "a", func(string) []byte { return []byte("100") })
	if got := takeAll(live.Subscriber); !slices.Equal(got, []string{"100"}) {
		t.Errorf("live subscriber got %q, want 100 alone", got)
	}
	s, _ := h.Subscribe(context.Background(), []string{"a"}, "E-50")
	defer s.Close()
	if got := takeAll(s); !slices.Equal(got, []string{"gap:history exceeded", "100"}) {
		t.Errorf("resume from E-50 got %q", got)
	}
}

// Nodes that apply one stream each from their own start give every
// message the same ID, and a client resumes on any of them with exactly
// what it missed: from the node's logs, or from the Source for what the
// node's logs no longer hold or never held.
func TestSourceServesResumes(t *testing.T) {
	st := &stream{}
	for seq := uint64(1); seq <= 200; seq++ {
		st.add(seq, []string{"a", "b", "c"}[seq%3], fmt.Sprint(seq))
	}
	var calls int
	// Node A applied everything but keeps little; node C started at 150.
	a := newHub(t, Options{Epoch: "S", HistoryBytes: 20 * (messageOverhead + 3), Source: st.source("S", &calls)})
	defer a.Close()
	st.apply(t, a, 1)
	c := newHub(t, Options{Epoch: "S", Source: st.source("S", &calls)})
	defer c.Close()
	st.apply(t, c, 150)

	for _, h := range []*Hub{a, c} {
		for _, from := range []uint64{0, 1, 60, 149, 150, 190, 200} {
			s, err := h.Subscribe(context.Background(), []string{"a", "c"}, FormatID("S", from))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for seq := from + 1; seq <= 200; seq++ {
				if seq%3 != 1 { // topic b
					want = append(want, fmt.Sprint(seq))
				}
			}
			if got := takeAll(s); !slices.Equal(got, want) {
				t.Errorf("resume from S-%d got %q,\nwant %q", from, got, want)
			}
			if s.Replaying() {
				t.Errorf("resume from S-%d still replaying after its replay", from)
			}
			s.Close()
		}
	}
	if calls == 0 {
		t.Error("the Source was never called")
	}
}

// A replay from the Source comes in Takes of bounded size, and messages
// published while it runs come after it, once each.
func TestSourceReplayThenLive(t *testing.T) {
	st := &stream{}
	big := strings.Repeat("x", 64<<10)
	for seq := uint64(1); seq <= 100; seq++ {
		st.add(seq, "a", fmt.Sprintf("%d %s", seq, big))
	}
	var calls int
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 1 << 20, Source: st.source("S", &calls)})
	defer h.Close()
	st.apply(t, h, 1)
	s, err := h.Subscribe(context.Background(), []string{"a", "b"}, "S-0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []uint64
	takes := 0
	for {
		msgs, gap := s.Take(nil)
		if gap != nil {
			t.Fatalf("gap %v", gap)
		}
		if len(msgs) == 0 {
			break
		}
		takes++
		size := 0
		for _, m := range msgs {
			got = append(got, m.Seq)
			size += len(m.Data)
		}
		if size > maxTakeBytes+len(msgs[len(msgs)-1].Data) {
			t.Errorf("one Take returned %d bytes", size)
		}
		if takes == 2 { // published during the replay
			m, _ := h.PublishAt(101, "b", func(string) []byte { return []byte("101") })
			st.add(101, "b", string(m.Data))
		}
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("took %v..., want 1 to 101 in order, once each", got[:i+1])
		}
	}
	if len(got) != 101 {
		t.Errorf("took %d messages, want 101", len(got))
	}
	if takes < 4 {
		t.Errorf("%d Takes for 6.4 MiB: the Source's replay was not cut", takes)
	}
}

// A Source that no longer holds the messages after the resume point makes
// exactly one gap, then what it holds.
func TestSourceGone(t *testing.T) {
	st := &stream{}
	for seq := uint64(1); seq <= 30; seq++ {
		st.add(seq, "a", fmt.Sprint(seq))
	}
	st.drop(21)
	var calls int
	h := newHub(t, Options{Epoch: "S", HistorySize: 5, Source: st.source("S", &calls)})
	defer h.Close()
	st.apply(t, h, 21)
	s, _ := h.Subscribe(context.Background(), []string{"a"}, "S-10")
	defer s.Close()
	want := []string{"gap:history exceeded"}
	for seq := 21; seq <= 30; seq++ {
		want = append(want, fmt.Sprint(seq))
	}
	if got := takeAll(s); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if g := h.Stats().Gaps; g != 1 {
		t.Errorf("Gaps = %d, want 1", g)
	}
}

// A Source that fails, or breaks its contract, ends the replay with a gap
// that says so; the logs follow.
func TestSourceFails(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  Source
	}{
		{"error", func(context.Context, []string, uint64, uint64, func(*Message) bool) error {
			return errors.New("connection refused")
		}},
		{"out of order", func(_ context.Context, _ []string, _, _ uint64, yield func(*Message) bool) error {
			yield(&Message{Seq: 3, Topic: "a", Data: []byte("3")})
			yield(&Message{Seq: 2, Topic: "a", Data: []byte("2")})
			return nil
		}},
		{"other topic", func(_ context.Context, _ []string, _, _ uint64, yield func(*Message) bool) error {
			yield(&Message{Seq: 3, Topic: "secret", Data: []byte("3")})
			return nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHub(t, Options{Epoch: "S", HistorySize: 2, Source: tt.src})
			defer h.Close()
			for range 5 {
				publish(t, h, "a", "m")
			}
			s, _ := h.Subscribe(context.Background(), []string{"a"}, "S-1")
			defer s.Close()
			msgs, gap := s.Take(nil)
			if gap == nil || gap.Reason != GapUnavailable || gap.Err == nil || len(msgs) != 0 {
				t.Fatalf("first Take = %d messages, gap %+v; want a gap %q alone", len(msgs), gap, GapUnavailable)
			}
			if gap.LastID != "S-1" {
				t.Errorf("gap.LastID = %q, want S-1", gap.LastID)
			}
			if got := takeAll(s); len(got) != 2 {
				t.Errorf("then %q, want the last 2 of the logs", got)
			}
		})
	}
}

// The Source runs holding no lock: publishing goes on while it is slow,
// and closing the subscriber cancels it.
func TestSourceRunsUnlocked(t *testing.T) {
	started, released := make(chan struct{}), make(chan struct{})
	src := func(ctx context.Context, _ []string, _, _ uint64, _ func(*Message) bool) error {
		close(started)
		<-ctx.Done()
		close(released)
		return ctx.Err()
	}
	h := newHub(t, Options{Epoch: "S", HistorySize: 1, Source: src})
	defer h.Close()
	publish(t, h, "a", "1")
	publish(t, h, "a", "2")
	s, _ := h.Subscribe(context.Background(), []string{"a"}, "S-0")
	took := make(chan []string)
	go func() { took <- takeAll(s) }()
	<-started
	publish(t, h, "a", "3") // would wait for the Source if it held the hub
	other, _, _ := subscribe(t, h, "", "a")
	other.Close()
	s.Close()
	<-released
	if got := <-took; len(got) != 0 {
		t.Errorf("a closed subscriber took %q", got)
	}
}

// A resume from an ID of the hub's epoch that the hub has not applied yet,
// on a hub that applies a shared stream, is subscribed at once and starts
// after that ID: it gets what follows once the hub catches up, nothing the
// client has already and no gap; past CatchUpWait, it gets a gap and what
// follows the hub's position then.
func TestCatchUpWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, Options{Epoch: "S", CatchUpWait: 2 * time.Second})
		defer h.Close()
		pub := func(seq uint64) {
			t.Helper()
			if _, err := h.PublishAt(seq, "a", func(string) []byte { return []byte(fmt.Sprint(seq)) }); err != nil {
				t.Fatal(err)
			}
		}
		pub(1)
		ahead, _, _ := subscribe(t, h, "S-3", "a")
		far, _, _ := subscribe(t, h, "S-50", "a")
		if got := takeAll(ahead.Subscriber); len(got) != 0 {
			t.Errorf("ahead of the hub, took %q at once", got)
		}
		time.Sleep(time.Second)
		pub(2)
		pub(3)
		pub(4)
		if got := takeAll(ahead.Subscriber); !slices.Equal(got, []string{"4"}) {
			t.Errorf("resume from S-3 got %q once the hub caught up, want 4", got)
		}
		if got := takeAll(far.Subscriber); len(got) != 0 {
			t.Errorf("resume from S-50 got %q before its deadline", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case <-far.ready:
		default:
			t.Fatal("the writer of S-50 was not woken at the deadline")
		}
		if got := takeAll(far.Subscriber); !slices.Equal(got, []string{"gap:future id"}) {
			t.Errorf("resume from S-50 got %q after CatchUpWait, want a gap", got)
		}
		pub(5)
		if got := takeAll(far.Subscriber); !slices.Equal(got, []string{"5"}) {
			t.Errorf("resume from S-50 then got %q, want 5", got)
		}
		if got := takeAll(ahead.Subscriber); !slices.Equal(got, []string{"5"}) {
			t.Errorf("resume from S-3 then got %q, want 5", got)
		}
	})
}

// A hub that applies no shared stream does not wait: an ID ahead of it can
// only come from a restart that lost its history.
func TestNoCatchUpWaitAlone(t *testing.T) {
	h := newHub(t, Options{Epoch: "S", CatchUpWait: time.Hour})
	defer h.Close()
	publish(t, h, "a", "1")
	s, err := h.Subscribe(context.Background(), []string{"a"}, "S-5")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := takeAll(s); !slices.Equal(got, []string{"gap:future id"}) {
		t.Errorf("got %q, want a gap at once", got)
	}
}

// SkipTo moves a hub to where its shared stream is without a message: a
// resume from there misses nothing and waits for nothing, one from before
// it is served by the Source.
func TestSkipTo(t *testing.T) {
	st := &stream{}
	for seq := uint64(1); seq <= 10; seq++ {
		st.add(seq, "a", fmt.Sprint(seq))
	}
	var calls int
	h := newHub(t, Options{Epoch: "S", CatchUpWait: time.Hour, Source: st.source("S", &calls)})
	defer h.Close()
	live, _, _ := subscribe(t, h, "", "a")
	defer live.Close()
	if err := h.SkipTo(10); err != nil {
		t.Fatal(err)
	}
	if err := h.SkipTo(10); !errors.Is(err, ErrStale) {
		t.Errorf("SkipTo(10) again = %v, want ErrStale", err)
	}
	if _, err := h.PublishAt(10, "a", nil); !errors.Is(err, ErrStale) {
		t.Errorf("PublishAt(10) after SkipTo(10) = %v, want ErrStale", err)
	}
	h.PublishAt(11, "a", func(string) []byte { return []byte("11") })
	for _, tt := range []struct {
		lastID string
		want   []string
	}{
		{"S-10", []string{"11"}},
		{"S-7", []string{"8", "9", "10", "11"}},
	} {
		s, _ := h.Subscribe(context.Background(), []string{"a"}, tt.lastID)
		if got := takeAll(s); !slices.Equal(got, tt.want) {
			t.Errorf("resume from %s got %q, want %q", tt.lastID, got, tt.want)
		}
		s.Close()
	}
	if got := takeAll(live.Subscriber); !slices.Equal(got, []string{"11"}) {
		t.Errorf("a live subscriber of a hub that had applied nothing got %q, want 11", got)
	}
}

// Messages that leave the logs while a replay from the Source runs are
// taken from the Source too: a slow Source makes no gap.
func TestSourceReplayOutrunsLogs(t *testing.T) {
	st := &stream{}
	var calls int
	src := st.source("S", &calls)
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 10 * (messageOverhead + 3), Source: src})
	defer h.Close()
	pub := func(from, to uint64) {
		for seq := from; seq <= to; seq++ {
			st.add(seq, "a", fmt.Sprint(seq))
		}
		st.apply(t, h, from)
	}
	pub(1, 50)
	s, _ := h.Subscribe(context.Background(), []string{"a"}, "S-0")
	defer s.Close()
	msgs, gap := s.Take(nil) // the Source's part: 1 to 40
	if gap != nil || len(msgs) != 40 {
		t.Fatalf("first Take: %d messages, gap %v; want 40 from the Source", len(msgs), gap)
	}
	pub(51, 100) // the logs now hold 91 to 100
	got := datas(msgs)
	got = append(got, takeAll(s)...)
	var want []string
	for seq := 1; seq <= 100; seq++ {
		want = append(want, fmt.Sprint(seq))
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q,\nwant 1 to 100", got)
	}
}

// A live subscriber that falls further behind than the logs hold takes
// what it missed from the Source: no gap while the Source holds it.
func TestSourceCatchesUpSlowSubscriber(t *testing.T) {
	st := &stream{}
	var calls int
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 10 * (messageOverhead + 3), Source: st.source("S", &calls)})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a", "b")
	defer s.Close()
	for seq := uint64(1); seq <= 100; seq++ {
		st.add(seq, []string{"a", "b", "c"}[seq%3], fmt.Sprint(seq))
	}
	st.apply(t, h, 1)
	var want []string
	for seq := 1; seq <= 100; seq++ {
		if seq%3 != 2 {
			want = append(want, fmt.Sprint(seq))
		}
	}
	if got := takeAll(s.Subscriber); !slices.Equal(got, want) {
		t.Errorf("got %q,\nwant %q", got, want)
	}
	if st := h.Stats(); st.Lagged != 0 || st.Gaps != 0 {
		t.Errorf("Lagged %d, Gaps %d; want none", st.Lagged, st.Gaps)
	}
	// Once the Source lost them too, it is one gap, of a slow subscriber.
	for seq := uint64(101); seq <= 200; seq++ {
		st.add(seq, "a", fmt.Sprint(seq))
	}
	st.drop(150)
	st.apply(t, h, 101)
	got := takeAll(s.Subscriber)
	if len(got) != 52 || got[0] != "gap:too slow" || got[1] != "150" || got[51] != "200" {
		t.Errorf("after the Source dropped 101 to 149: got %q", got)
	}
	if st := h.Stats(); st.Lagged != 1 {
		t.Errorf("Lagged = %d, want 1", st.Lagged)
	}
}

// Replays from the Source share one budget in bytes: clients that resume
// at once and never write what they took cannot make the hub hold more;
// the next replay waits for one of them to write or end.
func TestSourceReplaysShareABudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &stream{}
		big := strings.Repeat("x", 100<<10)
		for seq := uint64(1); seq <= 100; seq++ {
			st.add(seq, "a", big)
		}
		var calls int
		h := newHub(t, Options{Epoch: "S", HistorySize: 1, ReplayBytes: 4 << 20, Source: st.source("S", &calls)})
		defer h.Close()
		st.apply(t, h, 1)
		held := 0
		var subs []*Subscriber
		for held < 4<<20 {
			s, _ := h.Subscribe(context.Background(), []string{"a"}, "S-0")
			subs = append(subs, s)
			msgs, _ := s.Take(nil)
			for _, m := range msgs {
				held += len(m.Data)
			}
		}
		if held > 4<<20+len(big) {
			t.Fatalf("replays hold %d bytes, budget 4 MiB", held)
		}
		late, _ := h.Subscribe(context.Background(), []string{"a"}, "S-0")
		took := make(chan int)
		go func() {
			msgs, _ := late.Take(nil)
			took <- len(msgs)
		}()
		synctest.Wait()
		select {
		case n := <-took:
			t.Fatalf("a replay past the budget took %d messages", n)
		default:
		}
		// Room is made by replays that end. (A Take of subs[0] would give
		// back its part and then wait for room for its next one, which the
		// late replay may have taken first: both would wait.)
		subs[0].Close()
		subs[1].Close()
		if n := <-took; n == 0 {
			t.Error("the waiting replay took nothing once room was made")
		}
		late.Close()
		for _, s := range subs {
			s.Close()
		}
		if free := h.replayBudget.free; free != 4<<20 {
			t.Errorf("budget %d once every replay ended, want 4 MiB", free)
		}
	})
}

// The Source is asked only for what the logs of the subscriber's topics
// miss, and one that yields past the end of what it was asked for is
// stopped there, not failed.
func TestSourceAskedForWhatIsMissing(t *testing.T) {
	st := &stream{}
	for seq := uint64(1); seq <= 40; seq++ {
		st.add(seq, []string{"a", "b"}[seq%2], fmt.Sprint(seq))
	}
	var asked []uint64
	src := func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) error {
		asked = append(asked, upTo)
		for _, m := range st.from(0) { // past upTo too
			if m.Seq > after && slices.Contains(topics, m.Topic) && !yield(&Message{Seq: m.Seq, Topic: m.Topic, Data: m.Data}) {
				break
			}
		}
		return nil
	}
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 5 * (messageOverhead + 2), Source: src})
	defer h.Close()
	st.apply(t, h, 1)
	// A topic of its own, dropped from memory, leaves forgotten behind.
	publish(t, h, "gone", "x")
	h.mu.Lock()
	h.lookup("gone").clear()
	h.drop(h.lookup("gone"))
	h.mu.Unlock()

	s, _ := h.Subscribe(context.Background(), []string{"a"}, "S-20")
	defer s.Close()
	var want []string
	for seq := 22; seq <= 40; seq += 2 {
		want = append(want, fmt.Sprint(seq))
	}
	if got := takeAll(s); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(asked) != 1 || asked[0] != 30 {
		t.Errorf("the Source was asked up to %v, want 30 only: the log of a holds 32 to 40", asked)
	}
}

// A gap from the Source names where the subscriber was before it, not the
// last message the Source gave after it.
func TestSourceGapNamesWhereTheSubscriberWas(t *testing.T) {
	st := &stream{}
	var calls int
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 10 * (messageOverhead + 3), Source: st.source("S", &calls)})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	defer s.Close()
	for seq := uint64(1); seq <= 100; seq++ {
		st.add(seq, "a", fmt.Sprint(seq))
	}
	st.apply(t, h, 1)
	st.drop(50)
	msgs, gap := s.Take(nil)
	if gap == nil || gap.LastID != "S-0" || gap.Resume != "S-49" || len(msgs) == 0 || msgs[0].Seq != 50 {
		t.Fatalf("first Take: gap %+v, %d messages; want a gap after S-0 resuming at S-49, then 50", gap, len(msgs))
	}
}

// A Source that ignores what yield returns (a plain loop over what it
// holds) is stopped at the first false all the same: one Take holds no
// more than its share of the replay budget, and the replay goes on in
// later calls, in order, nothing twice.
func TestSourceIgnoringYieldIsStopped(t *testing.T) {
	const n = 3000
	data := strings.Repeat("x", 1<<10)
	src := func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) error {
		for seq := after + 1; seq <= upTo; seq++ {
			yield(&Message{Seq: seq, Topic: "a", Data: []byte(data)}) // return ignored
		}
		return nil
	}
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 4 * (messageOverhead + len(data)), Source: src})
	defer h.Close()
	for seq := uint64(1); seq <= n; seq++ {
		if _, err := h.PublishAt(seq, "a", func(string) []byte { return []byte(data) }); err != nil {
			t.Fatal(err)
		}
	}
	s, err := h.Subscribe(context.Background(), []string{"a"}, "S-0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var next uint64 = 1
	var buf []*Message
	for next <= n {
		msgs, gap := s.Take(buf)
		if gap != nil {
			t.Fatalf("gap %v at %d", gap, next)
		}
		if len(msgs) == 0 {
			t.Fatalf("nothing to take at %d", next)
		}
		size := 0
		for _, m := range msgs {
			if m.Seq != next {
				t.Fatalf("took %d, want %d", m.Seq, next)
			}
			next++
			size += len(m.Data) + messageOverhead
		}
		if size > maxTakeBytes+len(data)+messageOverhead {
			t.Fatalf("one Take holds %d bytes from the Source, more than the %d of one call", size, maxTakeBytes)
		}
		buf = msgs
	}
}

// A Source that yields nil, or keeps yielding after it was told to stop
// because of a bad message, ends the replay with one gap and no panic.
func TestSourceYieldsNil(t *testing.T) {
	src := func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) error {
		yield(&Message{Seq: after + 1, Topic: "a", Data: []byte("1")})
		yield(nil)
		yield(&Message{Seq: after + 2, Topic: "a", Data: []byte("2")})
		return nil
	}
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 2 * (messageOverhead + 1), Source: src})
	defer h.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		h.PublishAt(seq, "a", func(string) []byte { return []byte(fmt.Sprint(seq)) })
	}
	s, _ := h.Subscribe(context.Background(), []string{"a"}, "S-0")
	defer s.Close()
	got := takeAll(s)
	if !slices.Equal(got, []string{"gap:" + GapUnavailable, "10"}) {
		t.Errorf("got %q, want a gap then 10, what the log holds", got)
	}
}
