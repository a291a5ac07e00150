package hub

// # The subscriber
//
// A Subscriber holds one follow per topic: a position in that topic's log
// (every message of the topic up to it was taken, named by a gap, or is
// from before the subscriber joined the topic). Topics joined at different
// times are at different places; Take merges them in Seq order.
//
// Take is a state machine. Each turn, step decides the phase from the
// subscriber's state and its topics' logs, in one place:
//
//	catch-up wait  resumed from an ID of the hub's epoch that the hub has
//	               not applied yet (it applies a shared stream): wait until
//	               it does, or CatchUpWait passes (then a GapFuture, and
//	               every follow goes back to the hub's position).
//	replay from    a topic's messages after its position are not in its
//	the Source     log and no gap named them yet (evicted; skipped by
//	               PublishAt or SkipTo; kept from a resume by HistorySize,
//	               HistoryAge or no history), and the hub has a Source: ask
//	               it for the messages of every topic behind the end of
//	               that hole, each from its own position.
//	logs           otherwise: take what the logs hold after each position,
//	               up to the hub's head. A hole with no Source is a gap.
//	               Replay from the logs and live delivery are one step: a
//	               message up to its follow's replayTo is a replay.
//	wait           the logs had nothing: the subscriber is on its topics'
//	               waiting lists (or waits for the catch-up timer).
//	ended          Close, Hub.Close: nothing more.
//
// A gap is an event, not a phase: a resume from an ID the hub cannot place,
// a hole without a Source, a Source that fails. It waits in s.gap until
// the next Take that returns, merged with any other into one range
// (LastID, Resume]; the messages of that range that the logs still hold
// may follow it. A GapFuture (the hub did not reach a resume ID)
// names no range but moves the subscriber back: it waits apart (s.future)
// and is reported alone, first. One hole is one gap: the follows whose
// holes a gap names remember it (named), and the subscriber remembers the
// range of the last gap reported (reported), which named the holes of
// every topic it held in that range.
//
// # Locks
//
// Lock order: Hub.mu, then Subscriber.mu, then topic.mu, then
// topic.waitMu. replayBudget.mu, Hub.stallMu and Hub.aboveMu are leaves
// (nothing is taken under them); replayBudget's acquire, which waits for room, and
// Hub.awaitHead run with no lock held. Take takes s.mu and never Hub.mu.
// Publish takes topic.mu alone, to append, and Hub.mu alone, only to make
// a topic (see sequence.go). Subscribe and Join read no log; Leave and
// Close hold Hub.mu and take topic.mu for reading only, which waits at
// most for an append (except on a hub without history or a filtered one,
// where the last subscriber's leaving clears the topic's log). Take reads the logs up to
// the hub's head only, and a hole above it waits for it: publishers of
// numbers below it may still be encoding. It does not release s.mu inside
// a step: a step from the Source is planned under s.mu (which topics, from
// where), the Source is called with no lock held, and the result is
// applied under s.mu again, keeping only the messages of follows that are
// still those of the plan (Join and Leave may run meanwhile).
//
// # Per-topic holes
//
// Holes are kept per follow: a topic's evicted mark (topic.evicted) and the
// follow's own hole (follow.hole, set by a resume). A hub that applies a
// whole shared stream records a jump of its sequence as a hole of every
// topic (Hub.skip), since it cannot know whose the skipped numbers were. A
// filtered hub (Options.Filtered) is told every message of the topics
// that have subscribers: a jump is no topic's hole, a topic made by its
// first subscriber starts with everything up to the head as its hole, and
// nothing else here changes (its head is the applier's watermark: see
// filtered.go).

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A Subscriber is a position in the logs of the topics it follows. Its
// owner runs a writer that calls Take until it returns nothing, writes
// what it got, and is woken again through the function given to Notify.
type Subscriber struct {
	hub    *Hub
	epoch  string
	notify atomic.Pointer[func()] // set once by Notify, before the first Take; read by wake from any goroutine
	ended  atomic.Bool
	ctx    context.Context    // for the Source: the Subscribe's, without its end
	cancel context.CancelFunc // ends ctx when the subscriber ends

	mu      sync.Mutex
	follows []*follow  // sorted by topic name
	ahead   *aheadWait // the catch-up wait, while it lasts
	gap     *gapEvent  // to report at the next Take that returns
	future  *gapEvent  // a GapFuture to report alone, first
	// reported is the range of the last gap reported: a hole within it
	// was named.
	reported *gapEvent
	held     int  // bytes of the last Take from the Source, in the hub's replay budget
	fromNow  bool // subscribed without a resume ID
	err      error
}

// A follow is a subscriber's hold on one topic.
type follow struct {
	t *topic
	// pos: every message of t up to it was taken, named by a gap, or is
	// from before the subscriber joined t.
	pos uint64
	// named: the messages of t up to it that its log does not hold were
	// named by a gap.
	named uint64
	// hole: the messages of t up to it are not to be read from its log
	// (a resume past HistorySize or HistoryAge, or with no history).
	hole uint64
	// replayTo: messages up to it are a resume's replay (Subscribe with an
	// ID): Stats.Replayed and Replaying.
	replayTo uint64
	// resume: the first step sets hole from the log (resumeID), or starts
	// at what the log holds (resumeAll, an ID the hub cannot place).
	resume resumeKind
	listed bool // on t's waiting list of generation gen
	gen    uint64
}

// A resumeKind says what a follow's first step reads from its log.
type resumeKind uint8

const (
	resumeNone resumeKind = iota // joined from now, or resumed from the last ID
	resumeID                     // from an ID of the hub's epoch, behind it
	resumeAll                    // from an ID the hub cannot place: what the log holds
)

// A gapEvent is a gap waiting to be reported: messages in (lo, hi] may be
// missing. lastID names lo (or is the ID given, when the hub cannot place
// it, and lo is 0).
type gapEvent struct {
	lastID string
	lo, hi uint64
	reason string
	err    error
}

// merge returns one gap for g and o: the wider range, named as the one
// that starts first (g on a tie).
func (g *gapEvent) merge(o *gapEvent) *gapEvent {
	switch {
	case g == nil:
		return o
	case o == nil:
		return g
	}
	m := *g
	if o.lo < g.lo {
		m = *o
	}
	m.lo, m.hi = min(g.lo, o.lo), max(g.hi, o.hi)
	return &m
}

// Notify sets the function that wakes the subscriber's writer: the hub
// calls it, never with a lock held, when a message arrives for a
// subscriber whose last Take found nothing, and when the subscriber ends.
// Notify calls f once at once, so that the writer takes what is waiting
// already (a resume's replay, say). It must be called once, before Take.
func (s *Subscriber) Notify(f func()) {
	s.notify.Store(&f)
	f()
}

// wake calls the Notify function, if set: Close, Hub.Close and Join may
// run between Subscribe and Notify, on another goroutine; Notify's own call
// then tells the writer what it missed.
func (s *Subscriber) wake() {
	if f := s.notify.Load(); f != nil {
		(*f)()
	}
}

// Err returns why the subscriber ended, or nil while it is live.
func (s *Subscriber) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Take appends to buf, in order, the messages after the subscriber's
// position in its topics, and moves the position past them. When the
// subscriber missed messages (a resume the history could not cover, or it
// fell HistoryBytes behind), gap says so first: messages after its LastID
// and up to its Resume may be missing; those of that range that the logs
// still hold follow it. When Take returns no message and no gap, the
// subscriber waits: its Notify function runs when a message arrives.
//
// A writer that passes back the slice it got last time allocates nothing
// once warmed up. Take must not be called by two goroutines at once.
func (s *Subscriber) Take(buf []*Message) (msgs []*Message, gap *Gap) {
	clear(buf[:cap(buf)])
	out := buf[:0]
	s.mu.Lock()
	s.releaseHeld() // the last Take's messages were written
	for {
		msgs, gap, plan := s.step(out)
		if plan == nil {
			s.mu.Unlock()
			return msgs, gap
		}
		s.mu.Unlock()
		res := s.hub.callSource(plan, msgs) // no lock held
		s.mu.Lock()
		msgs, gap = s.applySource(plan, res)
		if len(msgs) > 0 || gap != nil {
			s.mu.Unlock()
			return msgs, gap
		}
		out = msgs
	}
}

// step is one turn of Take: it returns what Take returns, or the plan of a
// call of the Source. s.mu is held.
func (s *Subscriber) step(out []*Message) ([]*Message, *Gap, *sourcePlan) {
	if s.err != nil {
		return out, nil, nil // ended
	}
	h := s.hub
	upTo := h.head.Load()
	if s.ahead != nil && !s.caughtUp(upTo) {
		// Catch-up wait: a message after the resume ID, or the timer,
		// wakes it.
		if !s.waitCatchUp() {
			return s.step(out) // the hub caught up meanwhile
		}
		return out, nil, nil
	}
	if g := s.future; g != nil {
		// Alone: it moves the subscriber back to the hub's position, which
		// a gap merged with it could not say.
		s.future = nil
		return out, s.emit(g, out, g.hi), nil
	}
	var now time.Time
	for _, f := range s.follows {
		if f.resume != resumeNone {
			now = time.Now()
			break
		}
	}
	// One pass over the topics, each under its read lock: resolve a
	// resume's bounds, find holes, and collect from the logs.
	var lost *gapEvent
	var plan *sourcePlan
	budget := maxTakeBytes / max(len(s.follows), 1) // each topic's share of one Take
	for _, f := range s.follows {
		f.t.mu.RLock()
		if f.resume != resumeNone {
			s.resolveResume(f, now, upTo)
		}
		// A hole above the head waits for it: publishers of numbers below
		// it may still be encoding (see sequence.go).
		mark := min(max(f.t.evicted, f.hole), upTo)
		if mark > max(f.pos, f.named) {
			if h.source != nil {
				plan = plan.add(f, mark) // the follows behind it join below
			} else {
				lost = lost.merge(s.hole(f, mark))
				f.named = mark
			}
		}
		var stop uint64
		if plan == nil {
			out, stop = f.t.collect(out, max(f.pos, f.hole), upTo, budget)
		}
		f.t.mu.RUnlock()
		if stop != 0 {
			upTo = stop // the rest of every topic waits for the next Take
		}
	}
	if plan != nil {
		clear(out)
		return out[:0], nil, s.planSource(plan)
	}
	if lost != nil {
		lost.lastID = FormatID(s.epoch, lost.lo)
		s.addGap(lost)
	}
	if len(s.follows) > 1 {
		slices.SortFunc(out, func(a, b *Message) int { return cmp.Compare(a.Seq, b.Seq) })
		if i := slices.IndexFunc(out, func(m *Message) bool { return m.Seq > upTo }); i >= 0 {
			clear(out[i:])
			out = out[:i]
		}
	}
	collected := len(out)
	out = cut(out)
	pos := upTo
	if n := len(out); n < collected {
		pos = out[n-1].Seq // cut short: the rest next time
	}
	s.countReplayed(out)
	// out is every message up to pos after each follow's position.
	for _, f := range s.follows {
		f.pos = max(f.pos, pos)
	}
	if len(out) == 0 && s.gap == nil {
		if s.wait() {
			return out, nil, nil
		}
		return s.step(out) // a message arrived meanwhile
	}
	h.delivered.Add(uint64(len(out)))
	return out, s.reportGap(out, pos), nil
}

// resolveResume sets the bounds of a resumed follow from its log, once:
// what HistorySize and HistoryAge keep from a resume is a hole; a resume
// from an ID the hub cannot place starts at what the log holds, and its
// gap names what the log does not. s.mu and f.t.mu are held.
func (s *Subscriber) resolveResume(f *follow, now time.Time, upTo uint64) {
	l, log := &s.hub.limits, &f.t.log
	// Up to the head: what the log holds above it is not readable yet (a
	// publisher below it still encoding; a filtered hub's watermark behind).
	n := sort.Search(log.len(), func(i int) bool { return log.at(i).Seq > upTo })
	var edge uint64
	if l.count > 0 && n > l.count {
		edge = log.at(n - l.count - 1).Seq
	}
	cutoff := now.Add(-l.age)
	if i := sort.Search(n, func(i int) bool { return !log.at(i).Time.Before(cutoff) }); i > 0 {
		edge = max(edge, log.at(i-1).Seq)
	}
	if edge > f.pos {
		f.hole = max(f.hole, edge)
	}
	if f.resume == resumeAll {
		f.pos = max(f.pos, f.hole)
		f.named = max(f.named, min(f.t.evicted, upTo), f.hole)
		if s.gap != nil {
			s.gap.hi = max(s.gap.hi, f.named)
		}
	}
	f.resume = resumeNone
}

// hole returns the gap for f's hole up to mark, or nil when a gap named
// it already: f's own (named), or the last one reported, which named
// every topic's messages in its range. (A skip marks the topics one after
// the other: a Take between two marks sees the hole in some topics only,
// and the next one in the others.) s.mu is held.
func (s *Subscriber) hole(f *follow, mark uint64) *gapEvent {
	return s.unnamed(&gapEvent{lo: max(f.pos, f.named), hi: mark, reason: f.lostReason()})
}

// unnamed returns g less what the last gap reported named, or nil when
// that was all of it. s.mu is held.
func (s *Subscriber) unnamed(g *gapEvent) *gapEvent {
	if r := s.reported; g != nil && r != nil && r.lo <= g.lo {
		if g.hi <= r.hi {
			return nil
		}
		g.lo = max(g.lo, r.hi)
	}
	return g
}

// lostReason is the reason of a gap for f's hole: the resume's replay
// could not be covered, or a live subscriber fell behind (or the hub
// skipped messages).
func (f *follow) lostReason() string {
	if f.pos < f.replayTo {
		return GapExceeded
	}
	return GapTooSlow
}

// addGap adds a gap to report: a GapFuture waits apart, to be reported
// alone; any other is merged with the gap waiting. s.mu is held.
func (s *Subscriber) addGap(g *gapEvent) {
	switch {
	case g == nil:
	case g.reason == GapFuture:
		if s.future == nil {
			s.future = g
		}
	default:
		s.gap = s.gap.merge(g)
	}
}

// reportGap returns the gap waiting, if any, to report before out, which
// ends at pos. s.mu is held.
func (s *Subscriber) reportGap(out []*Message, pos uint64) *Gap {
	g := s.gap
	if g == nil {
		return nil
	}
	s.gap = nil
	return s.emit(g, out, pos)
}

// emit returns g as Take reports it before out, which ends at pos, and
// counts it. s.mu is held.
func (s *Subscriber) emit(g *gapEvent, out []*Message, pos uint64) *Gap {
	resume := max(g.hi, pos)
	if len(out) > 0 {
		resume = max(g.hi, out[0].Seq-1)
	}
	if g.reason != GapFuture {
		s.reported = &gapEvent{lo: g.lo, hi: resume}
	}
	if g.reason == GapTooSlow {
		s.hub.lagged.Add(1)
	} else {
		s.hub.gaps.Add(1)
	}
	return &Gap{LastID: g.lastID, Reason: g.reason, Resume: FormatID(s.epoch, resume), Err: g.err}
}

// countReplayed adds to the hub's Replayed the messages of out that are
// a replay: up to their follow's replayTo. s.mu is held.
func (s *Subscriber) countReplayed(out []*Message) {
	if !slices.ContainsFunc(s.follows, func(f *follow) bool { return f.pos < f.replayTo }) {
		return
	}
	n := 0
	for _, m := range out {
		if f := s.follow(m.Topic); f != nil && m.Seq <= f.replayTo {
			n++
		}
	}
	s.hub.replayed.Add(uint64(n))
}

// follow returns s's follow of topic, or nil. s.mu is held.
func (s *Subscriber) follow(topic string) *follow {
	i, found := slices.BinarySearchFunc(s.follows, topic, func(f *follow, name string) int { return strings.Compare(f.t.name, name) })
	if !found {
		return nil
	}
	return s.follows[i]
}

// releaseHeld gives back to the hub's replay budget the bytes of the last
// Take from the Source. s.mu is held.
func (s *Subscriber) releaseHeld() {
	if s.held > 0 {
		s.hub.replayBudget.release(s.held)
		s.held = 0
	}
}

// startAfter moves a subscriber that subscribed from now on, before the
// hub applied anything, after seq: see Hub.skip. h.mu is held.
func (s *Subscriber) startAfter(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fromNow {
		return
	}
	for _, f := range s.follows {
		if f.pos == 0 && f.replayTo == 0 {
			f.pos = seq
		}
	}
}

// cut shortens msgs to what one Take returns: at least one message, and no
// more than maxTakeBytes of data after the first.
func cut(msgs []*Message) []*Message {
	size := 0
	for i, m := range msgs {
		size += len(m.Data)
		if size > maxTakeBytes && i > 0 {
			clear(msgs[i:])
			return msgs[:i]
		}
	}
	return msgs
}

// wait puts s on the waiting list of each of its topics, unless a message
// arrived meanwhile in one of them; it reports whether s waits. s.mu is
// held.
func (s *Subscriber) wait() bool {
	for _, f := range s.follows {
		if !f.t.wait(s, f, f.pos) {
			return false
		}
	}
	return true
}

// waitCatchUp puts s on the waiting list of each of its topics for a
// message from the resume ID it waits for on, unless one arrived
// meanwhile. It reports whether s waits. s.mu is held.
func (s *Subscriber) waitCatchUp() bool {
	for _, f := range s.follows {
		if !f.t.wait(s, f, s.ahead.seq-1) {
			return false
		}
	}
	return true
}

// Replaying reports whether the subscriber resumed and Take has not yet
// returned everything it replays, or the gap that comes first.
func (s *Subscriber) Replaying() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil && (s.gap != nil || s.future != nil || slices.ContainsFunc(s.follows, func(f *follow) bool { return f.pos < f.replayTo }))
}

// Topics returns the topics s follows, sorted.
func (s *Subscriber) Topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topics()
}

// topics returns the topics s follows, sorted. s.mu is held.
func (s *Subscriber) topics() []string {
	names := make([]string, len(s.follows))
	for i, f := range s.follows {
		names[i] = f.t.name
	}
	return names
}

// Join adds topics to s, from the next message published: nothing is
// replayed. Topics s follows already are left as they are.
func (s *Subscriber) Join(topics ...string) error {
	h := s.hub
	names, err := h.checkTopics(topics)
	if err != nil {
		return err
	}
	h.mu.Lock()
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		h.mu.Unlock()
		return err
	}
	var add []string
	for _, name := range names {
		if s.follow(name) == nil {
			add = append(add, name)
		}
	}
	if n := len(s.follows) + len(add); n > h.maxTopics {
		s.mu.Unlock()
		h.mu.Unlock()
		return &TopicError{Err: ErrTooManyTopics, Reason: fmt.Sprintf("%d topics, at most %d", n, h.maxTopics)}
	}
	// From the next message, or from s's position when it resumed ahead
	// of the hub and waits for it: what comes before that position is
	// what the client has of the stream already, as on a hub caught up.
	start := follow{pos: h.head.Load()}
	if s.ahead != nil {
		start.pos = max(start.pos, s.ahead.seq)
	}
	for _, name := range add {
		f := start
		s.add(h.topic(name), &f)
	}
	s.mu.Unlock()
	h.mu.Unlock()
	if len(add) > 0 {
		s.wake() // so that its writer waits on the new topics too
	}
	return nil
}

// add makes s follow t with f. h.mu and s.mu are held.
func (s *Subscriber) add(t *topic, f *follow) {
	if t.subs == 0 && s.hub.limits.filtered {
		// A filtered hub applies a topic's messages from its first
		// subscriber's arrival on: what it holds up to the head (a
		// topic restored by Load) is a hole; above it, the applier's.
		t.mu.Lock()
		t.clearTo(s.hub.head.Load())
		t.mu.Unlock()
	}
	t.subs++
	f.t = t
	i, _ := slices.BinarySearchFunc(s.follows, t.name, func(f *follow, name string) int { return strings.Compare(f.t.name, name) })
	s.follows = slices.Insert(s.follows, i, f)
}

// Leave removes topics from s at once: Take returns none of their
// messages from then on, from the logs or the Source. Topics it does not
// follow are ignored.
func (s *Subscriber) Leave(topics ...string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range topics {
		s.mu.Lock()
		f := s.follow(name)
		if f != nil {
			if f.listed {
				f.t.unwait(s, f.gen) // or a Join after it would list s again
			}
			s.follows = slices.DeleteFunc(s.follows, func(x *follow) bool { return x == f })
		}
		s.mu.Unlock()
		if f != nil {
			h.unfollow(f.t)
		}
	}
}

// Close ends s with ErrUnsubscribed. It is safe to call more than once and
// after the hub ended s.
func (s *Subscriber) Close() {
	h := s.hub
	h.mu.Lock()
	ended := h.end(s, ErrUnsubscribed)
	h.mu.Unlock()
	if ended {
		s.wake()
	}
}

// An aheadWait is the catch-up wait of a resume from an ID of the hub's
// epoch that the hub has not applied yet: its subscriber starts after
// that ID, so that it gets what follows once the hub catches up, and
// nothing the client has already; past the deadline, it gets a gap and
// goes on from the hub's position.
type aheadWait struct {
	lastID   string
	seq      uint64
	deadline time.Time
	timer    *time.Timer // wakes the writer at the deadline
}

// awaitCatchUp makes s, which resumes from seq (lastID) ahead of the hub,
// wait for the hub to apply it, at most wait. h.mu is held.
func (s *Subscriber) awaitCatchUp(lastID string, seq uint64, wait time.Duration) {
	s.ahead = &aheadWait{lastID: reportedID(lastID), seq: seq, deadline: time.Now().Add(wait)}
	s.ahead.timer = time.AfterFunc(wait, s.wake)
}

// caughtUp ends the catch-up wait once the hub reached the resume ID, or
// past the deadline with a gap, every follow going back to the hub's
// position head. It reports whether the wait is over. s.mu is held.
func (s *Subscriber) caughtUp(head uint64) bool {
	a := s.ahead
	switch {
	case head >= a.seq:
	case time.Now().Before(a.deadline):
		return false
	default:
		s.addGap(&gapEvent{lastID: a.lastID, lo: a.seq, hi: head, reason: GapFuture})
		for _, f := range s.follows {
			f.pos = min(f.pos, head)
		}
	}
	a.timer.Stop()
	s.ahead = nil
	return true
}
