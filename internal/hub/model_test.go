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
// On a filtered hub, besides: nothing above the applier's watermark (the
// last SkipTo) is readable, neither a message nor a gap's Resume; Publish
// is an error and a redelivered PublishAt is stale; a subscriber from now
// on logs that hold everything gets no gap; and once its subscribers left,
// the hub keeps no topic.
//
// CI runs a fixed budget of seeds; -hub.seeds=N runs N of each mode, and
// -hub.seed=S runs one seed of each mode, with its trace on failure.
var (
	modelSeeds  = flag.Int("hub.seeds", 0, "episodes of each mode of the model-based test (0: the CI budget)")
	modelSeed   = flag.Uint64("hub.seed", 0, "run only this seed of the model-based test")
	modelPanics = flag.Bool("hub.panics", true, "let the model's Source panic")
)

const (
	modelCISeqSeeds   = 300 // sequential episodes in CI
	modelCIConcSeeds  = 40  // concurrent episodes in CI
	modelOps          = 250 // operations of a sequential episode
	modelCIApplySeeds = 60  // appliers episodes in CI
	modelApplyMsgs    = 200 // messages of the stream in an appliers episode
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

// TestModelFiltered runs episodes on a filtered hub (Options.Filtered), as
// a node that applies a stream filtered by topic: the numbers PublishAt
// skips are of a topic no subscriber holds, a message is readable once the
// applier's watermark (SkipTo) passes it and not before, Publish is an
// error, and a topic without subscribers keeps nothing. The invariants are
// the same, per topic. The sequential and concurrent modes apply with one
// goroutine; appliers with several at once, as a cluster node does.
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
	t.Run("appliers", func(t *testing.T) {
		runModel(t, modelCIApplySeeds, func(t *testing.T, seed uint64) []string {
			var violations []string
			synctest.Test(t, func(t *testing.T) {
				m := newModel(t, seed, true)
				violations = m.runAppliers()
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
	// roomy: the logs hold every message and keep it, and none is too
	// large: a subscriber that came from now has no reason for a gap.
	roomy bool

	// top is the highest number the stream handed out (the stream may
	// have dropped it since).
	top atomic.Uint64
	// wmark is the highest watermark passed to SkipTo, stored before the
	// call: a filtered hub makes nothing above it readable.
	wmark atomic.Uint64

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

// last returns the Seq of the last message the hub made readable: on a
// filtered hub, the watermark, which it may not pass.
func (m *model) last() uint64 {
	seq := lastSeq(m.h)
	if w := m.wmark.Load(); m.filter && seq > w {
		m.violate("early", "LastID is %d, above the watermark %d", seq, w)
	}
	return seq
}

// addAt adds a message to the stream, the truth, at seq, above every
// number the stream handed out.
func (m *model) addAt(seq uint64, topic string, data []byte) {
	m.stream.AddAt(seq, topic, data)
	m.top.Store(seq) // by one goroutine at a time, as AddAt
}

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
		m.publishFiltered(topic)
		return
	}
	if m.top.Load() > m.last() {
		// A refused PublishAt left its number in the stream: the hub's
		// next number is taken.
		m.publishAt(topic)
		return
	}
	data := m.data()
	big := m.tooLarge(data)
	msg, err := m.h.Publish(topic, func(id string) []byte {
		if _, seq, _ := ParseID(id); !big {
			m.addAt(seq, topic, data)
		}
		return data
	})
	switch {
	case big && err == nil:
		m.violate("large", "Publish of %d bytes on a log of %d returned %s and no error", len(data), m.opts.HistoryBytes, msg.ID)
		m.addAt(msg.Seq, topic, data) // the truth: it was published
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

// publishFiltered checks at times that Publish on a filtered hub is an
// error (the stream numbers its messages), then applies a message with
// PublishAt.
func (m *model) publishFiltered(topic string) {
	if m.rng.IntN(5) == 0 {
		msg, err := m.h.Publish(topic, func(string) []byte { return []byte("x") })
		switch {
		case err == nil:
			m.violate("publish", "Publish on a filtered hub published %s:%d", topic, msg.Seq)
			if msg.Seq > m.top.Load() { // the truth: it was published
				m.addAt(msg.Seq, topic, []byte("x"))
			}
			m.wmark.Store(max(m.wmark.Load(), msg.Seq))
		case !errors.Is(err, ErrFilteredPublish):
			m.violate("publish", "Publish on a filtered hub: %v, not ErrFilteredPublish", err)
		}
		m.logf("publish %s on a filtered hub: %v", topic, err)
	}
	m.publishAt(topic)
}

// publishAt publishes with PublishAt after skipping up to three numbers,
// whose messages are in the stream only. On a filtered hub the skipped
// numbers are other topics', and the applier moves its watermark with
// SkipTo after most calls, after a few at times (the messages in between
// are above the head).
func (m *model) publishAt(topic string) {
	seq := max(m.last(), m.top.Load())
	for range m.rng.IntN(4) {
		seq++
		other := modelTopics[m.rng.IntN(len(modelTopics))]
		if m.filter {
			other = modelOtherTopic
		}
		m.addAt(seq, other, make([]byte, 10+m.rng.IntN(200)))
	}
	seq++
	data := m.data()
	m.addAt(seq, topic, data)
	m.shared.Store(true)
	_, err := m.h.PublishAt(seq, topic, func(string) []byte { return data })
	big := m.tooLarge(data)
	switch {
	case big && !errors.Is(err, ErrTooLarge):
		m.violate("large", "PublishAt of %d bytes on a log of %d: %v, not ErrTooLarge", len(data), m.opts.HistoryBytes, err)
	case !big && err != nil:
		m.violate("error", "PublishAt(%d): %v", seq, err)
	}
	m.logf("publishAt %s:%d (%d bytes) err=%v", topic, seq, len(data), err)
	if m.filter && m.rng.IntN(3) != 0 {
		m.watermark()
	}
}

// watermark moves a filtered hub's head to the last number applied, as
// its applier does once PublishAt returned.
func (m *model) watermark() {
	w := m.top.Load()
	if !m.filter || w <= m.wmark.Load() {
		return
	}
	m.wmark.Store(w)
	if err := m.h.SkipTo(w); err != nil {
		m.violate("error", "SkipTo(%d), the watermark: %v", w, err)
	}
	m.logf("skipTo %d (watermark)", w)
}

// skipTo skips up to three numbers, whose messages are in the stream only:
// on a filtered hub, other topics' (it is the watermark then).
func (m *model) skipTo() {
	seq := max(m.last(), m.top.Load())
	for range 1 + m.rng.IntN(3) {
		seq++
		other := modelTopics[m.rng.IntN(len(modelTopics))]
		if m.filter {
			other = modelOtherTopic
		}
		m.addAt(seq, other, make([]byte, 10+m.rng.IntN(200)))
	}
	m.shared.Store(true)
	m.wmark.Store(seq)
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
	fromNow     bool // it subscribed with no resume ID
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
	ms := &modelSub{m: m, id: m.nextID, s: s, held: map[string]*modelTopic{}, ready: make(chan struct{}, 1), fromNow: lastID == ""}
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
	if len(r.msgs) > 0 {
		m.logf("sub%d: took %s", ms.id, traceMsgs(r.msgs))
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

// traceMsgs returns msgs as topic:seq for the trace.
func traceMsgs(msgs []*Message) string {
	var b strings.Builder
	for i, msg := range msgs {
		if i > 0 {
			b.WriteByte(' ')
		}
		if msg == nil {
			b.WriteString("nil")
			continue
		}
		fmt.Fprintf(&b, "%s:%d", msg.Topic, msg.Seq)
	}
	return b.String()
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
	if w := m.wmark.Load(); m.filter && resume > w {
		// A client that resumes from it would miss what comes up to it.
		m.violate("early", "sub%d: gap %q after %s to %s, above the watermark %d", ms.id, g.Reason, g.LastID, g.Resume, w)
	}
	if m.roomy && ms.fromNow {
		m.violate("needless", "sub%d, from now on a hub whose logs hold everything: gap %q after %s to %s", ms.id, g.Reason, g.LastID, g.Resume)
	}
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
	if w := m.wmark.Load(); m.filter && msg.Seq > w {
		m.violate("early", "sub%d: got %s:%d, above the watermark %d", ms.id, msg.Topic, msg.Seq, w)
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
	m.watermark() // the applier's last
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
	m.watermark() // subscribers come once the hub is past 0
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
	m.watermark()
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
	m     *model
	rng   *rand.Rand
	ms    *modelSub     // the last one, after a Close and a new Subscribe
	pause time.Duration // the longest wait for a wake between operations
	churn int           // percent of operations that join, leave or resubscribe
}

// subRuns makes the four subscribers of a concurrent episode.
func (m *model) subRuns() []*subRun {
	runs := make([]*subRun, 4)
	for i := range runs {
		r := &subRun{m: m, rng: rand.New(rand.NewPCG(m.rng.Uint64(), 1)), pause: 300 * time.Millisecond, churn: 22}
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
		case <-time.After(time.Duration(r.rng.Int64N(int64(r.pause)))):
		}
		if r.ms.woken.Load() || r.ms.active {
			r.ms.drain()
		}
		topic := modelTopics[r.rng.IntN(len(modelTopics))]
		switch op := r.rng.IntN(100) * 22 / r.churn; {
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

// runAppliers applies a stream to a filtered hub as a cluster node does,
// while four subscribers run as in runConcurrent. The stream's goroutine
// numbers its messages in order, of the model's topics and of
// modelOtherTopic (which the node does not consume), adds each to the
// stream (the truth, which the Source serves) and hands it to the applier
// of its topic's shard: each topic is on one shard, so PublishAt runs in
// order within a topic and side by side across shards. Whoever completes a
// message moves the watermark (every number up to it applied, or refused
// as too large, or another topic's) and calls SkipTo with it; a SkipTo
// that another applier's overtook is stale, and harmless. At times an
// applier applies again the last message it applied (a redelivery), which
// must be stale and change nothing.
func (m *model) runAppliers() []string {
	rng := m.rng
	if rng.IntN(3) == 0 {
		// Logs that hold and keep every message: no subscriber from now
		// has a reason for a gap (a message above the head of a topic with
		// no subscriber is kept for one that comes, not dropped as a hole).
		m.h.Close()
		m.roomy = true
		m.opts.HistoryBytes, m.opts.HistorySize, m.opts.HistoryAge = 1<<24, 0, 0
		h, err := New(m.opts)
		if err != nil {
			m.t.Fatal(err)
		}
		m.h = h
		m.logf("roomy: HistoryBytes=%d, no HistorySize or HistoryAge", m.opts.HistoryBytes)
	}
	shards := 2 + rng.IntN(2)
	shardOf := map[string]int{}
	for _, name := range modelTopics {
		shardOf[name] = rng.IntN(shards)
	}
	// The node starts on the stream where it is: after the messages it
	// holds already, or at 0.
	var start uint64
	if rng.IntN(3) > 0 {
		start = uint64(1 + rng.IntN(30))
		for seq := uint64(1); seq <= start; seq++ {
			m.addAt(seq, m.streamTopic(rng), make([]byte, 10+rng.IntN(300)))
		}
		m.wmark.Store(start)
		if err := m.h.SkipTo(start); err != nil {
			m.violate("error", "SkipTo(%d) at the start: %v", start, err)
		}
	}
	m.logf("appliers: %d shards %v, stream from %d", shards, shardOf, start)
	tr := &modelTracker{w: start, done: map[uint64]bool{}}

	var (
		wg, applying sync.WaitGroup
		done         atomic.Bool
	)
	// Every draw from m.rng before the subscribers run: the Source draws
	// from it then.
	chans := make([]chan streamtest.Message, shards)
	rngs := make([]*rand.Rand, shards)
	for i := range chans {
		chans[i] = make(chan streamtest.Message, 1+rng.IntN(8))
		rngs[i] = rand.New(rand.NewPCG(rng.Uint64(), uint64(10+i)))
	}
	srng := rand.New(rand.NewPCG(rng.Uint64(), 9))
	runs := m.subRuns()
	for _, r := range runs {
		// More operations while the stream runs, more of them joins and
		// leaves: a topic's first subscriber comes while the topic has
		// messages above the head.
		r.pause, r.churn = 50*time.Millisecond, 50
		wg.Go(func() { r.run(&done) })
	}
	for i := range chans {
		applying.Go(func() { m.applier(rngs[i], i, chans[i], tr) })
	}
	applying.Go(func() {
		defer func() {
			for _, c := range chans {
				close(c)
			}
		}()
		for seq := start + 1; seq <= start+modelApplyMsgs; seq++ {
			topic := m.streamTopic(srng)
			data := make([]byte, 10+srng.IntN(300))
			if srng.IntN(60) == 0 && !m.roomy {
				data = make([]byte, m.opts.HistoryBytes) // too large: its topic's hole
			}
			m.addAt(seq, topic, data) // before any Source can be asked for it
			if topic == modelOtherTopic {
				m.applied(tr, seq) // not the node's: applied at once
			} else {
				chans[shardOf[topic]] <- streamtest.Message{Seq: seq, Topic: topic, Data: data}
			}
			switch k := srng.IntN(100); {
			case k < 2:
				m.stream.DropBefore(uint64(srng.IntN(int(seq) + 1)))
				m.logf("stream drops")
			case k < 40:
				time.Sleep(time.Duration(srng.IntN(40)) * time.Millisecond)
			}
		}
	})
	applying.Wait()
	if last, top := m.last(), m.top.Load(); last != top {
		m.violate("head", "the head is at %d once every message up to %d was applied and SkipTo(%d) returned", last, top, tr.w)
	}
	done.Store(true)
	wg.Wait()
	for _, r := range runs {
		m.subs = append(m.subs, r.ms)
	}
	m.settle()
	// Once the last subscriber left, and the head passed every message
	// and a sweep came, a filtered hub keeps nothing.
	for _, ms := range m.subs {
		ms.s.Close()
	}
	time.Sleep(m.h.limits.age) // a sweep is due
	seq := m.top.Load() + 1
	m.addAt(seq, modelOtherTopic, []byte("z"))
	m.wmark.Store(seq)
	if err := m.h.SkipTo(seq); err != nil {
		m.violate("error", "SkipTo(%d) at the end: %v", seq, err)
	}
	if st := m.h.Stats(); st.Subscribers != 0 || st.Topics != 0 {
		var kept []string
		m.h.topics.Range(func(_, v any) bool {
			t := v.(*topic)
			t.mu.RLock()
			kept = append(kept, fmt.Sprintf("%s (%d messages, %d subscribers)", t.name, t.log.len(), t.subs))
			t.mu.RUnlock()
			return true
		})
		m.violate("kept", "%d subscribers and %d topics held once every subscriber closed, with nothing above the head: %s", st.Subscribers, st.Topics, strings.Join(kept, ", "))
	}
	return m.result()
}

// streamTopic returns the topic of a message of the stream: one of the
// model's, or at times another that the node does not consume.
func (m *model) streamTopic(rng *rand.Rand) string {
	if rng.IntN(10) < 3 {
		return modelOtherTopic
	}
	return modelTopics[rng.IntN(len(modelTopics))]
}

// applier applies the messages of shard i in order, lagging at times, and
// at times applies the last one again.
func (m *model) applier(rng *rand.Rand, i int, msgs <-chan streamtest.Message, tr *modelTracker) {
	var prev *streamtest.Message // the last one applied
	for sm := range msgs {
		switch k := rng.IntN(100); {
		case k < 3: // a stall: the other shards apply on, above the head
			time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		case k < 35:
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		}
		if prev != nil && rng.IntN(20) == 0 {
			_, err := m.h.PublishAt(prev.Seq, prev.Topic, func(string) []byte { return prev.Data })
			if !errors.Is(err, ErrStale) {
				m.violate("redelivery", "applier %d: PublishAt(%d) again: %v, not ErrStale", i, prev.Seq, err)
			}
			m.logf("applier %d: publishAt %s:%d again: %v", i, prev.Topic, prev.Seq, err)
		}
		_, err := m.h.PublishAt(sm.Seq, sm.Topic, func(string) []byte { return sm.Data })
		big := m.tooLarge(sm.Data)
		switch {
		case big && !errors.Is(err, ErrTooLarge):
			m.violate("large", "applier %d: PublishAt(%d) of %d bytes on a log of %d: %v, not ErrTooLarge", i, sm.Seq, len(sm.Data), m.opts.HistoryBytes, err)
		case !big && err != nil:
			m.violate("error", "applier %d: PublishAt(%d): %v", i, sm.Seq, err)
		case err == nil:
			prev = &sm
		}
		m.logf("applier %d: publishAt %s:%d (%d bytes) err=%v", i, sm.Topic, sm.Seq, len(sm.Data), err)
		m.applied(tr, sm.Seq)
	}
}

// A modelTracker computes the watermark of an appliers episode.
type modelTracker struct {
	mu   sync.Mutex
	w    uint64          // every number up to it is applied
	done map[uint64]bool // numbers after w applied
}

// applied records that seq was applied and, if that moved the watermark,
// calls SkipTo with it. A SkipTo that is stale must have been overtaken by
// one with a higher watermark.
func (m *model) applied(tr *modelTracker, seq uint64) {
	tr.mu.Lock()
	tr.done[seq] = true
	from := tr.w
	for tr.done[tr.w+1] {
		delete(tr.done, tr.w+1)
		tr.w++
	}
	w := tr.w
	if w > from {
		m.wmark.Store(w) // before the call, in order
	}
	tr.mu.Unlock()
	if w == from {
		return
	}
	err := m.h.SkipTo(w)
	switch {
	case errors.Is(err, ErrStale) && m.wmark.Load() == w:
		m.violate("stale", "SkipTo(%d), the highest watermark yet: %v", w, err)
	case err != nil && !errors.Is(err, ErrStale):
		m.violate("error", "SkipTo(%d): %v", w, err)
	}
	m.logf("skipTo %d (watermark) err=%v", w, err)
}
