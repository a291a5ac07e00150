package hub

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/realtime-go/realtime/internal/streamtest"
)

// The model-based test drives a hub with a seeded random sequence of every
// operation (Publish, PublishAt with skipped numbers, SkipTo, Subscribe from
// now or resuming from a valid, evicted, ahead, malformed or foreign ID,
// Join, Leave, Take, Close, and Join and Leave during a call of the
// Source), on a hub with small logs so that
// eviction happens, and a Source that sometimes fails, is slow, ignores
// yield or panics. The truth is the shared stream: every message ever
// published, with its Seq and topic. It checks what a user of Take can
// check, per subscriber:
//
//   - messages come in increasing Seq order, never twice;
//   - each is of a topic the subscriber holds at that Take, after where it
//     joined it (never a joined topic's past);
//   - every message of a topic it holds, after where it joined, is either
//     delivered or named by a Gap: one whose LastID is before it and
//     Resume at or after it (messages of that range that the logs still
//     hold may follow the gap): no silent loss;
//   - two gaps in a row do not cover one range twice;
//   - a writer that Take left waiting is woken when there is something to
//     take (Take returns nothing to a writer not woken);
//   - Take does not block for ever; Publish refuses a message that its
//     topic's log could not hold.
//
// CI runs a fixed budget of seeds; -hub.seeds=N runs N of each mode, and
// -hub.seed=S runs one seed of each mode, with its trace on failure.
var (
	modelSeeds  = flag.Int("hub.seeds", 0, "episodes of each mode of the model-based test (0: the CI budget)")
	modelSeed   = flag.Uint64("hub.seed", 0, "run only this seed of the model-based test")
	modelPanics = flag.Bool("hub.panics", true, "let the model's Source panic")
)

const (
	modelCISeqSeeds  = 300 // sequential episodes in CI
	modelCIConcSeeds = 40  // concurrent episodes in CI
	modelOps         = 250 // operations of a sequential episode
)

var modelTopics = []string{"a", "b", "c", "d"}

// tracedOnce: the first episode with violations logs its trace (a
// concurrent one may not replay from its seed).
var tracedOnce atomic.Bool

// TestModelSequential runs sequential episodes: one goroutine does every
// operation, so a seed replays exactly.
func TestModelSequential(t *testing.T) {
	runModel(t, modelCISeqSeeds, func(t *testing.T, seed uint64) []string {
		var violations []string
		synctest.Test(t, func(t *testing.T) {
			m := newModel(t, seed, false)
			violations = m.runSequential()
		})
		return violations
	})
}

// TestModelConcurrent runs concurrent episodes: a publisher and several
// subscribers, each on its own goroutine, with time through synctest.
func TestModelConcurrent(t *testing.T) {
	runModel(t, modelCIConcSeeds, func(t *testing.T, seed uint64) []string {
		var violations []string
		synctest.Test(t, func(t *testing.T) {
			m := newModel(t, seed, false)
			violations = m.runConcurrent()
		})
		return violations
	})
}

// TestModelPublishers runs concurrent episodes with several publishers at
// once, each calling Publish, to the same topic or to others, as the
// subscribers' goroutines run: the hub numbers the messages in one
// sequence, appends them side by side, and its subscribers must still take
// them in Seq order, none twice and none lost. At times a message is too
// large, or its encode panics: its number is given back or given up.
func TestModelPublishers(t *testing.T) {
	runModel(t, modelCIConcSeeds, func(t *testing.T, seed uint64) []string {
		var violations []string
		synctest.Test(t, func(t *testing.T) {
			m := newModel(t, seed, false)
			violations = m.runPublishers(3)
		})
		return violations
	})
}

// TestModelFiltered runs sequential and concurrent episodes on a filtered
// hub (Options.Filtered), as a node that applies a stream filtered by
// topic: the numbers PublishAt skips are of a topic no subscriber holds,
// and a topic without subscribers keeps nothing. The invariants are the
// same, per topic.
func TestModelFiltered(t *testing.T) {
	t.Run("sequential", func(t *testing.T) {
		runModel(t, modelCISeqSeeds/2, func(t *testing.T, seed uint64) []string {
			var violations []string
			synctest.Test(t, func(t *testing.T) {
				m := newModel(t, seed, true)
				violations = m.runSequential()
			})
			return violations
		})
	})
	t.Run("concurrent", func(t *testing.T) {
		runModel(t, modelCIConcSeeds/2, func(t *testing.T, seed uint64) []string {
			var violations []string
			synctest.Test(t, func(t *testing.T) {
				m := newModel(t, seed, true)
				violations = m.runConcurrent()
			})
			return violations
		})
	})
}

// modelOtherTopic is the topic of the numbers a filtered hub skips: the
// stream's other topics, which no subscriber of the model holds.
const modelOtherTopic = "z"

// runModel runs the seeds of one mode and reports the episodes that broke
// an invariant, with the first violations of the first few.
func runModel(t *testing.T, ciSeeds int, episode func(t *testing.T, seed uint64) []string) {
	seeds := make([]uint64, 0, ciSeeds)
	switch {
	case *modelSeed != 0:
		seeds = append(seeds, *modelSeed)
	case *modelSeeds > 0:
		for i := range *modelSeeds {
			seeds = append(seeds, uint64(i+1))
		}
	default:
		for i := range ciSeeds {
			seeds = append(seeds, uint64(i+1))
		}
	}
	failed := 0
	kinds := map[string][]uint64{} // the seeds of each kind of violation
	for _, seed := range seeds {
		v := episode(t, seed)
		if len(v) == 0 {
			continue
		}
		failed++
		seen := map[string]bool{}
		for _, s := range v {
			kind, _, _ := strings.Cut(s, ":")
			if !seen[kind] {
				seen[kind] = true
				kinds[kind] = append(kinds[kind], seed)
			}
		}
		if failed <= 5 {
			t.Errorf("seed %d: %d violations; first: %s", seed, len(v), strings.Join(v[:min(len(v), 3)], "\n\t"))
		}
	}
	t.Logf("%d episodes, %d with violations", len(seeds), failed)
	for _, kind := range slices.Sorted(maps.Keys(kinds)) {
		seeds := kinds[kind]
		t.Logf("%s: %d episodes, seeds %v", kind, len(seeds), seeds[:min(len(seeds), 8)])
	}
}

// A model is one episode: the hub, the truth and the subscribers.
type model struct {
	t      *testing.T
	rng    *rand.Rand
	h      *Hub
	opts   Options
	stream streamtest.Stream
	source bool        // the hub has a Source
	filter bool        // the hub is Filtered: skipped numbers are modelOtherTopic's
	shared atomic.Bool // PublishAt or SkipTo was called

	mu         sync.Mutex // guards violations and trace in concurrent episodes
	violations []string
	trace      []string
	subs       []*modelSub
	nextID     int

	srcRng sync.Mutex // guards rng draws of the Source
}

func newModel(t *testing.T, seed uint64, filtered bool) *model {
	m := &model{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	m.opts = Options{
		HistoryBytes: 600 + m.rng.IntN(3000),
		CatchUpWait:  time.Second,
		Epoch:        "E",
	}
	if m.rng.IntN(4) == 0 {
		m.opts.HistoryAge = time.Duration(2+m.rng.IntN(10)) * time.Second // sleeps age messages out
	}
	switch m.rng.IntN(8) {
	case 0:
		m.opts.HistorySize = 1 + m.rng.IntN(6) // resumes replay a few messages of each topic
	case 1:
		m.opts.HistorySize = -1 // no history for resumes
	}
	if m.rng.IntN(10) < 7 {
		m.source = true
		m.opts.Source = m.sourceFunc()
		if m.rng.IntN(4) == 0 {
			m.opts.ReplayBytes = 1000 + m.rng.IntN(100_000)
		}
	}
	m.filter, m.opts.Filtered = filtered, filtered
	h, err := New(m.opts)
	if err != nil {
		t.Fatal(err)
	}
	m.h = h
	m.logf("hub Filtered=%v HistoryBytes=%d HistorySize=%d HistoryAge=%v source=%v ReplayBytes=%d", m.filter, m.opts.HistoryBytes, m.opts.HistorySize, m.opts.HistoryAge, m.source, m.opts.ReplayBytes)
	return m
}

func (m *model) logf(format string, args ...any) {
	m.mu.Lock()
	m.trace = append(m.trace, fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

// violate records a violation of kind (a word that groups the violations
// of one invariant in the summary).
func (m *model) violate(kind, format string, args ...any) {
	m.mu.Lock()
	m.violations = append(m.violations, kind+": "+fmt.Sprintf(format, args...))
	m.trace = append(m.trace, "VIOLATION: "+fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

// intn draws from the episode's generator (safe for the Source's calls
// from writers in concurrent episodes).
func (m *model) intn(n int) int {
	m.srcRng.Lock()
	defer m.srcRng.Unlock()
	return m.rng.IntN(n)
}

// sourceFunc serves the stream, misbehaving at times.
func (m *model) sourceFunc() Source {
	return func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) error {
		if ref, ok := ctx.Value(modelSubKey{}).(*atomic.Pointer[modelSub]); ok {
			if ms := ref.Load(); ms != nil && m.intn(100) < 10 {
				ms.changeTopics()
			}
		}
		mode := m.intn(100)
		switch {
		case mode < 8:
			m.logf("source(%v, %d, %d): fails", topics, after, upTo)
			return errors.New("model source failed")
		case mode < 16:
			d := time.Duration(1+m.intn(2000)) * time.Millisecond
			m.logf("source(%v, %d, %d): slow %v", topics, after, upTo, d)
			time.Sleep(d)
		case mode < 22 && *modelPanics:
			m.logf("source(%v, %d, %d): panics", topics, after, upTo)
			panic("model source panics")
		}
		ignore := mode >= 22 && mode < 30
		if ignore {
			m.logf("source(%v, %d, %d): ignores yield", topics, after, upTo)
		}
		err := m.stream.Replay(ctx, topics, after, upTo, func(sm streamtest.Message) bool {
			ok := yield(&Message{Seq: sm.Seq, ID: FormatID("E", sm.Seq), Topic: sm.Topic, Data: sm.Data})
			return ok || ignore
		})
		if errors.Is(err, streamtest.ErrGone) {
			return fmt.Errorf("%w: %w", ErrHistoryGone, err)
		}
		return err
	}
}

// last returns the Seq of the last message the hub applied.
func (m *model) last() uint64 { return lastSeq(m.h) }

// truth returns the stream's messages of topic with lo < Seq < hi.
func (m *model) truth(topic string, lo, hi uint64) []uint64 {
	var out []uint64
	for _, sm := range m.stream.From(lo + 1) {
		if sm.Seq >= hi {
			break
		}
		if sm.Topic == topic {
			out = append(out, sm.Seq)
		}
	}
	return out
}

func (m *model) data() []byte {
	n := 10 + m.rng.IntN(300)
	if m.rng.IntN(100) == 0 && m.last() > 0 { // (the first is not refused: see startAfter)
		n = m.opts.HistoryBytes // too large for its log
	}
	return make([]byte, n)
}

// tooLarge reports whether a message of data cannot be held by its log.
func (m *model) tooLarge(data []byte) bool {
	return len(data)+messageOverhead > m.opts.HistoryBytes
}

// publish publishes with Publish; the stream gets the message as the hub
// stamps it, before any Source can be asked for it.
func (m *model) publish(topic string) {
	if m.filter {
		// A filtered hub's numbers are its stream's: Publish is refused.
		if _, err := m.h.Publish(topic, func(id string) []byte { return []byte(id) }); !errors.Is(err, ErrFilteredPublish) {
			m.violate("error", "Publish on a filtered hub: %v, want ErrFilteredPublish", err)
		}
		m.publishAt(topic)
		return
	}
	if m.streamLast() > m.last() {
		// A refused PublishAt left its number in the stream: the hub's
		// next number is taken.
		m.publishAt(topic)
		return
	}
	data := m.data()
	big := m.tooLarge(data)
	msg, err := m.h.Publish(topic, func(id string) []byte {
		if _, seq, _ := ParseID(id); !big {
			m.stream.AddAt(seq, topic, data)
		}
		return data
	})
	switch {
	case big && err == nil:
		m.violate("large", "Publish of %d bytes on a log of %d returned %s and no error", len(data), m.opts.HistoryBytes, msg.ID)
		m.stream.AddAt(msg.Seq, topic, data) // the truth: it was published
	case !big && err != nil:
		m.violate("error", "Publish: %v", err)
	}
	if err == nil {
		m.logf("publish %s:%d (%d bytes)", topic, msg.Seq, len(data))
	} else {
		m.logf("publish %s (%d bytes): %v", topic, len(data), err)
	}
}

// publishFrom publishes with Publish, as one of several publishers at once,
// drawing from rng: the stream gets the message as the hub numbers it, in
// order among the others'. At times the message is too large, or encode
// panics.
func (m *model) publishFrom(rng *rand.Rand, topic string) {
	data := make([]byte, 10+rng.IntN(300))
	if rng.IntN(100) == 0 {
		data = make([]byte, m.opts.HistoryBytes)
	}
	big := m.tooLarge(data)
	panics := rng.IntN(50) == 0
	var (
		msg *Message
		err error
	)
	func() {
		defer func() {
			if r := recover(); r != nil && !panics {
				m.violate("panic", "Publish: %v", r)
			}
		}()
		msg, err = m.h.Publish(topic, func(id string) []byte {
			if panics {
				panic("model encode panics")
			}
			if _, seq, _ := ParseID(id); !big {
				m.stream.Insert(seq, topic, data)
			}
			return data
		})
	}()
	switch {
	case panics:
		m.logf("publish %s: encode panicked", topic)
		return
	case big && err == nil:
		m.violate("large", "Publish of %d bytes on a log of %d returned %s and no error", len(data), m.opts.HistoryBytes, msg.ID)
		m.stream.Insert(msg.Seq, topic, data)
	case !big && err != nil:
		m.violate("error", "Publish: %v", err)
	}
	if err == nil {
		m.logf("publish %s:%d (%d bytes)", topic, msg.Seq, len(data))
	} else {
		m.logf("publish %s (%d bytes): %v", topic, len(data), err)
	}
}

// publishAt publishes with PublishAt after skipping up to three numbers,
// whose messages are in the stream only.
func (m *model) publishAt(topic string) {
	seq := max(m.last(), m.streamLast())
	for range m.rng.IntN(4) {
		seq++
		other := modelTopics[m.rng.IntN(len(modelTopics))]
		if m.filter {
			other = modelOtherTopic
		}
		m.stream.AddAt(seq, other, make([]byte, 10+m.rng.IntN(200)))
	}
	seq++
	data := m.data()
	m.stream.AddAt(seq, topic, data)
	m.shared.Store(true)
	_, err := m.h.PublishAt(seq, topic, func(string) []byte { return data })
	if m.filter {
		// The applier's watermark makes it readable.
		if err := m.h.SkipTo(seq); err != nil {
			m.violate("error", "SkipTo(%d): %v", seq, err)
		}
	}
	big := m.tooLarge(data)
	switch {
	case big && err == nil:
		m.violate("large", "PublishAt of %d bytes on a log of %d: no error", len(data), m.opts.HistoryBytes)
	case !big && err != nil:
		m.violate("error", "PublishAt(%d): %v", seq, err)
	}
	m.logf("publishAt %s:%d (%d bytes) err=%v", topic, seq, len(data), err)
}

// skipTo skips up to three numbers, whose messages are in the stream only.
func (m *model) skipTo() {
	seq := max(m.last(), m.streamLast())
	for range 1 + m.rng.IntN(3) {
		seq++
		topic := modelTopics[m.rng.IntN(len(modelTopics))]
		if m.filter {
			topic = modelOtherTopic // a filtered hub applies every message of its topics
		}
		m.stream.AddAt(seq, topic, make([]byte, 10+m.rng.IntN(200)))
	}
	m.shared.Store(true)
	if err := m.h.SkipTo(seq); err != nil {
		m.violate("error", "SkipTo(%d): %v", seq, err)
	}
	m.logf("skipTo %d", seq)
}

func (m *model) streamLast() uint64 {
	if sm, ok := m.stream.Last(); ok {
		return sm.Seq
	}
	return 0
}

// A modelSub is a subscriber and what its user knows of it.
type modelSub struct {
	m      *model
	id     int
	s      *Subscriber
	woken  atomic.Bool
	ready  chan struct{}
	active bool // the writer takes without waiting for a wake
	closed bool // by the model, after a Take that blocked

	held  map[string]*modelTopic
	last  uint64 // highest Seq delivered
	ahead uint64 // the ID it resumed from, ahead of the hub, until a GapFuture
	// maybeFuture: it resumed from an ID the hub reached while Subscribe
	// ran, so a GapFuture may come first and move it back.
	maybeFuture bool
	prevGap     *Gap // the last event was this gap
	buf         []*Message
}

// A modelTopic is a topic a subscriber holds.
type modelTopic struct {
	pos  uint64      // messages up to it must not come: the last delivered, or where it joined
	need uint64      // messages after it must come or be named by a gap (pos, or later while a Join's start is uncertain)
	gaps [][2]uint64 // the ranges (LastID, Resume] of the gaps since it was joined
}

// newSub subscribes; before is the hub's position before the call.
func (m *model) newSub(topics []string, lastID string, before uint64) *modelSub {
	ref := new(atomic.Pointer[modelSub]) // for the Source: see changeTopics
	s, err := m.h.Subscribe(context.WithValue(context.Background(), modelSubKey{}, ref), topics, lastID)
	after := m.last() // once it returned: a publisher may run meanwhile
	if err != nil {
		m.violate("error", "Subscribe: %v", err)
		return nil
	}
	m.mu.Lock()
	m.nextID++
	ms := &modelSub{m: m, id: m.nextID, s: s, held: map[string]*modelTopic{}, ready: make(chan struct{}, 1)}
	m.mu.Unlock()
	ref.Store(ms)
	from, to := before, after
	if lastID != "" {
		epoch, seq, ok := ParseID(lastID)
		switch {
		case !ok || epoch != "E":
			from, to = 0, 0
		default:
			from, to = seq, seq
			switch {
			case m.filter:
				// After its ID at once: the topics' messages up to it are
				// the client's (Options.Filtered).
			case seq > before && (m.source || m.shared.Load()):
				ms.ahead = seq // it waits for the hub to catch up
			case seq > after:
				from, to = before, after // a GapFuture, from the hub's position
			case seq > before:
				// Publishers reached it while Subscribe ran: the hub may
				// have placed it or not (a GapFuture, from its position).
				ms.maybeFuture = true
			}
		}
	}
	for _, name := range topics {
		ms.held[name] = &modelTopic{pos: from, need: to}
	}
	s.Notify(func() {
		ms.woken.Store(true)
		select {
		case ms.ready <- struct{}{}:
		default:
		}
	})
	m.logf("sub%d: subscribe %v from %q (hub at %d)", ms.id, topics, lastID, before)
	return ms
}

// resumeID returns a resume ID of one of the kinds a client sends.
func (m *model) resumeID() string {
	last := m.last()
	switch k := m.rng.IntN(10); {
	case k < 3:
		return ""
	case k < 7:
		return FormatID("E", uint64(m.rng.IntN(int(last)+1)))
	case k < 8:
		return FormatID("E", last+1+uint64(m.rng.IntN(3)))
	case k < 9:
		return "garbage"
	default:
		return FormatID("F", uint64(m.rng.IntN(int(last)+1)))
	}
}

func (m *model) someTopics() []string {
	var out []string
	for _, name := range modelTopics {
		if m.rng.IntN(2) == 0 {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		out = append(out, modelTopics[m.rng.IntN(len(modelTopics))])
	}
	return out
}

// join joins topic from now; before and after bound the hub's position.
func (ms *modelSub) join(topic string, rng *rand.Rand) {
	before := ms.m.last()
	if err := ms.s.Join(topic); err != nil {
		ms.m.violate("error", "sub%d: Join: %v", ms.id, err)
		return
	}
	after := ms.m.last()
	if ms.held[topic] == nil {
		ms.held[topic] = &modelTopic{pos: max(before, ms.ahead), need: max(after, ms.ahead)}
	}
	ms.m.logf("sub%d: join %s (hub at %d)", ms.id, topic, before)
}

// A modelSubKey's value in a Subscribe's context is the subscriber, for
// the Source.
type modelSubKey struct{}

// changeTopics joins or leaves a topic while a call of the Source for ms
// runs, with no lock held, as a connection's reader does while its writer
// is in Take. The writer waits for Take: ms is the Source's until Take
// returns.
func (ms *modelSub) changeTopics() {
	m := ms.m
	rng := rand.New(rand.NewPCG(uint64(m.intn(1<<30)), 3))
	topic := modelTopics[rng.IntN(len(modelTopics))]
	m.logf("sub%d: during a call of the Source:", ms.id)
	if rng.IntN(2) == 0 {
		ms.join(topic, rng)
	} else {
		ms.leave(topic)
	}
}

func (ms *modelSub) leave(topic string) {
	ms.s.Leave(topic)
	delete(ms.held, topic)
	ms.m.logf("sub%d: leave %s", ms.id, topic)
}

// take calls Take once and checks what it returns. It reports whether
// Take returned anything. A Take that does not return within an hour of
// the bubble's time is a violation; the subscriber is closed so that it
// returns.
func (ms *modelSub) take() bool {
	m := ms.m
	ms.woken.Store(false)
	type result struct {
		msgs []*Message
		gap  *Gap
	}
	done := make(chan result, 1)
	go func() {
		msgs, gap := ms.s.Take(ms.buf)
		done <- result{msgs, gap}
	}()
	var r result
	for returned := false; !returned; {
		select {
		case r = <-done:
			returned = true
		case <-time.After(time.Hour):
			// Waiting for room in the replay budget is right while other
			// writers hold some: they would take again once written.
			if m.releaseBudget(ms) {
				continue
			}
			m.h.replayBudget.mu.Lock()
			free, total := m.h.replayBudget.free, m.h.replayBudget.total
			m.h.replayBudget.mu.Unlock()
			m.violate("blocked", "sub%d: Take blocked (replay budget: %d of %d free)", ms.id, free, total)
			ms.s.Close()
			ms.closed = true
			<-done
			return false
		}
	}
	ms.buf = r.msgs
	if r.gap != nil {
		ms.onGap(r.gap)
	}
	for i, msg := range r.msgs {
		if msg == nil {
			m.violate("nil", "sub%d: Take returned nil at %d of %d (gap %v)", ms.id, i, len(r.msgs), r.gap)
			break
		}
		ms.onMessage(msg)
	}
	got := len(r.msgs) > 0 || r.gap != nil
	ms.active = got
	return got
}

// releaseBudget gives back the replay budget that writers other than ms
// hold, as they do once they have written what they took (the model's
// writers write at once); it reports whether there was any.
func (m *model) releaseBudget(ms *modelSub) bool {
	found := false
	for _, o := range m.subs {
		if o == ms {
			continue
		}
		o.s.mu.Lock()
		if o.s.held > 0 {
			found = true
			o.s.releaseHeld()
		}
		o.s.mu.Unlock()
	}
	return found
}

// seqOfID returns the Seq an ID of the model's epoch names, or 0.
func seqOfID(id string) uint64 {
	epoch, seq, ok := ParseID(id)
	if !ok || epoch != "E" {
		return 0
	}
	return seq
}

func (ms *modelSub) onGap(g *Gap) {
	m := ms.m
	lo, resume := seqOfID(g.LastID), seqOfID(g.Resume)
	m.logf("sub%d: gap %q after %q resume %q", ms.id, g.Reason, g.LastID, g.Resume)
	if p := ms.prevGap; p != nil && lo < seqOfID(p.Resume) {
		m.violate("twogaps", "sub%d: two gaps for one range: after %s to %s, then after %s to %s", ms.id, p.LastID, p.Resume, g.LastID, g.Resume)
	}
	ms.prevGap = g
	if g.Reason == GapFuture {
		ms.prevGap = nil // it names no range: the subscriber goes back
	}
	for _, tp := range ms.held {
		tp.gaps = append(tp.gaps, [2]uint64{lo, resume})
	}
	if g.Reason == GapFuture && ms.maybeFuture {
		ms.maybeFuture = false
		ms.last = min(ms.last, resume)
		for _, tp := range ms.held {
			tp.pos, tp.need = min(tp.pos, resume), min(tp.need, resume)
		}
	}
	if g.Reason == GapFuture && ms.ahead != 0 && m.last() < ms.ahead {
		// The hub did not reach the resume ID in time: the subscriber goes
		// on from the hub's position.
		ms.ahead = 0
		ms.last = min(ms.last, resume)
		for _, tp := range ms.held {
			tp.pos, tp.need = min(tp.pos, resume), min(tp.need, resume)
		}
	}
}

func (ms *modelSub) onMessage(msg *Message) {
	m := ms.m
	ms.prevGap = nil
	ms.maybeFuture = false // a GapFuture comes before any message
	tp := ms.held[msg.Topic]
	if tp == nil {
		m.violate("unheld", "sub%d: got %s:%d of a topic it does not hold", ms.id, msg.Topic, msg.Seq)
		return
	}
	if msg.Seq <= tp.pos {
		m.violate("past", "sub%d: got %s:%d, not after %d (the last of its topic, or where it joined)", ms.id, msg.Topic, msg.Seq, tp.pos)
		return
	}
	if msg.Seq <= ms.last {
		m.violate("order", "sub%d: got %s:%d after %d", ms.id, msg.Topic, msg.Seq, ms.last)
	}
	ms.checkLoss(msg.Topic, tp, msg.Seq)
	tp.pos, tp.need = msg.Seq, msg.Seq
	ms.last = max(ms.last, msg.Seq)
}

// checkLoss checks that every message of topic before hi that tp has not
// had is named by a gap: one after LastID and up to Resume.
func (ms *modelSub) checkLoss(topic string, tp *modelTopic, hi uint64) {
	for _, seq := range ms.m.truth(topic, max(tp.pos, tp.need), hi) {
		if !slices.ContainsFunc(tp.gaps, func(g [2]uint64) bool { return g[0] < seq && seq <= g[1] }) {
			kind := "lost"
			if slices.ContainsFunc(tp.gaps, func(g [2]uint64) bool { return g[0] >= seq }) {
				kind = "lost-gap-after" // a gap came, naming a later point
			}
			ms.m.violate(kind, "sub%d: %s:%d lost without a gap (topic at %d, next %d)", ms.id, topic, seq, tp.pos, hi)
			return
		}
	}
}

// drain takes until Take returns nothing, as a writer does once woken.
func (ms *modelSub) drain() {
	for i := 0; ms.take(); i++ {
		if i > 10_000 {
			ms.m.violate("dry", "sub%d: Take never runs dry", ms.id)
			return
		}
	}
}

// settle lets time pass so that waits end, then drains every subscriber
// that was woken and checks that the others have nothing to take, and
// that nothing was lost.
func (m *model) settle() {
	for range 3 {
		time.Sleep(5 * time.Second)
		for _, ms := range m.subs {
			if ms.woken.Load() || ms.active {
				ms.drain()
			}
		}
	}
	for _, ms := range m.subs {
		if ms.take() {
			m.violate("unwoken", "sub%d: had something to take and was not woken", ms.id)
			ms.drain()
		}
	}
	m.checkEnd()
}

// checkEnd checks that nothing up to the hub's last message was lost.
func (m *model) checkEnd() {
	last := m.last()
	for _, ms := range m.subs {
		for topic, tp := range ms.held {
			ms.checkLoss(topic, tp, last+1)
		}
	}
}

func (m *model) result() []string {
	m.h.Close()
	for _, ms := range m.subs {
		ms.s.Close()
	}
	b := &m.h.replayBudget
	b.mu.Lock()
	if b.free != b.total {
		m.violate("budget", "the replay budget has %d of %d free once every subscriber ended", b.free, b.total)
	}
	b.mu.Unlock()
	if len(m.violations) > 0 && (*modelSeed != 0 || !tracedOnce.Swap(true)) {
		m.t.Logf("trace:\n%s", strings.Join(m.trace, "\n"))
	}
	return m.violations
}

// runSequential runs one goroutine's random operations.
func (m *model) runSequential() []string {
	rng := m.rng
	m.publish(modelTopics[rng.IntN(len(modelTopics))])
	for range modelOps {
		topic := modelTopics[rng.IntN(len(modelTopics))]
		m.subs = slices.DeleteFunc(m.subs, func(x *modelSub) bool { return x.closed })
		var ms *modelSub
		if len(m.subs) > 0 {
			ms = m.subs[rng.IntN(len(m.subs))]
		}
		switch op := rng.IntN(100); {
		case op < 18:
			m.publish(topic)
		case op < 30:
			m.publishAt(topic)
		case op < 33:
			m.skipTo()
		case op < 35:
			m.stream.DropBefore(uint64(rng.IntN(int(m.streamLast()) + 1)))
			m.logf("stream drops")
		case op < 41 || ms == nil:
			if len(m.subs) < 6 {
				last := m.last()
				if ms := m.newSub(m.someTopics(), m.resumeID(), last); ms != nil {
					m.subs = append(m.subs, ms)
				}
			}
		case op < 46:
			ms.join(topic, rng)
		case op < 54:
			ms.leave(topic)
		case op < 57:
			ms.s.Close()
			m.logf("sub%d: close", ms.id)
			m.subs = slices.DeleteFunc(m.subs, func(x *modelSub) bool { return x == ms })
		case op < 60:
			d := time.Duration(rng.IntN(3000)) * time.Millisecond
			time.Sleep(d)
			m.logf("sleep %v", d)
		default:
			if ms.woken.Load() || ms.active {
				ms.take()
			}
		}
	}
	m.settle()
	return m.result()
}

// runConcurrent runs a publisher and four subscribers at once. Each
// subscriber's goroutine does its own Joins, Leaves and resumes between
// its Takes, as a connection's goroutines do.
func (m *model) runConcurrent() []string {
	m.publish("a")
	var (
		wg   sync.WaitGroup
		done atomic.Bool
	)
	runs := m.subRuns()
	pubRng := rand.New(rand.NewPCG(m.rng.Uint64(), 2))
	for _, r := range runs {
		wg.Go(func() { r.run(&done) })
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		for range 150 {
			topic := modelTopics[pubRng.IntN(len(modelTopics))]
			switch op := pubRng.IntN(100); {
			case op < 55:
				m.publishConc(pubRng, topic)
			case op < 90:
				m.publishAtConc(pubRng, topic)
			case op < 95:
				m.skipToConc(pubRng)
			default:
				m.stream.DropBefore(uint64(pubRng.IntN(int(m.streamLast()) + 1)))
			}
			time.Sleep(time.Duration(pubRng.IntN(50)) * time.Millisecond)
		}
	}()
	wg.Wait()
	for _, r := range runs {
		m.subs = append(m.subs, r.ms)
	}
	m.settle()
	return m.result()
}

// runPublishers runs n publishers, each calling Publish only, and four
// subscribers at once.
func (m *model) runPublishers(n int) []string {
	m.publish("a")
	var (
		wg         sync.WaitGroup
		done       atomic.Bool
		publishing sync.WaitGroup
	)
	runs := m.subRuns()
	rngs := make([]*rand.Rand, n)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(m.rng.Uint64(), 2))
	}
	for _, r := range runs {
		wg.Go(func() { r.run(&done) })
	}
	for _, rng := range rngs {
		publishing.Go(func() {
			for range 100 {
				topic := modelTopics[rng.IntN(len(modelTopics))]
				if rng.IntN(100) < 3 {
					m.stream.DropBefore(uint64(rng.IntN(int(m.streamLast()) + 1)))
				} else {
					m.publishFrom(rng, topic)
				}
				time.Sleep(time.Duration(rng.IntN(4)) * time.Millisecond)
			}
		})
	}
	publishing.Wait()
	done.Store(true)
	wg.Wait()
	for _, r := range runs {
		m.subs = append(m.subs, r.ms)
	}
	m.settle()
	return m.result()
}

// A subRun is a subscriber of a concurrent episode and its generator.
type subRun struct {
	m   *model
	rng *rand.Rand
	ms  *modelSub // the last one, after a Close and a new Subscribe
}

// subRuns makes the four subscribers of a concurrent episode.
func (m *model) subRuns() []*subRun {
	runs := make([]*subRun, 4)
	for i := range runs {
		r := &subRun{m: m, rng: rand.New(rand.NewPCG(m.rng.Uint64(), 1))}
		last := m.last()
		r.ms = m.newSub(m.someTopics(), "", last)
		runs[i] = r
	}
	return runs
}

// run takes, and does its own Joins, Leaves and resumes between its
// Takes, as a connection's goroutines do, until done.
func (r *subRun) run(done *atomic.Bool) {
	m := r.m
	for !done.Load() && !r.ms.closed {
		select {
		case <-r.ms.ready:
		case <-time.After(time.Duration(r.rng.IntN(300)) * time.Millisecond):
		}
		if r.ms.woken.Load() || r.ms.active {
			r.ms.drain()
		}
		topic := modelTopics[r.rng.IntN(len(modelTopics))]
		switch op := r.rng.IntN(100); {
		case op < 8:
			r.ms.join(topic, r.rng)
		case op < 19:
			r.ms.leave(topic)
		case op < 22:
			r.ms.s.Close()
			var topics []string
			for name := range r.ms.held {
				topics = append(topics, name)
			}
			if len(topics) == 0 {
				topics = []string{topic}
			}
			ms := m.newSub(topics, m.resumeIDConc(r.rng), m.last())
			if ms != nil {
				r.ms = ms
			}
		}
	}
}

// The publisher's operations of concurrent episodes draw from their own
// generator; they are the sequential ones otherwise.
func (m *model) publishConc(rng *rand.Rand, topic string) {
	m.withRng(rng, func() { m.publish(topic) })
}

func (m *model) publishAtConc(rng *rand.Rand, topic string) {
	m.withRng(rng, func() { m.publishAt(topic) })
}

func (m *model) skipToConc(rng *rand.Rand) {
	m.withRng(rng, func() { m.skipTo() })
}

func (m *model) resumeIDConc(rng *rand.Rand) (id string) {
	m.withRng(rng, func() { id = m.resumeID() })
	return id
}

// withRng runs f with m.rng replaced by rng, holding srcRng.
func (m *model) withRng(rng *rand.Rand, f func()) {
	m.srcRng.Lock()
	saved := m.rng
	m.rng = rng
	defer func() { m.rng = saved; m.srcRng.Unlock() }()
	f()
}
