// Package hub is the broadcast core shared by the sse and ws packages:
// topics, subscribers, one sequence of message IDs with an epoch, the
// topics' bounded logs and counters. It knows nothing of HTTP.
//
// A message travels like this: [Hub.Publish] stamps the next sequence
// number, lets the caller encode the message once with its ID and appends
// it to its topic's log (a message larger than the log can hold is refused
// with [ErrTooLarge]), taking no lock but its topic's: publishers to
// different topics run side by side, and a message is readable once every
// lower number is (see sequence.go). A subscriber is only a position in
// the log of each of its topics: it has no queue of its own. Its writer
// calls [Subscriber.Take], which returns every message after those
// positions, merged in Seq order and shared with every other subscriber,
// and moves them on. When a subscriber has taken everything, Take puts it on the
// waiting lists of its topics, and the next Publish to one of them (or a
// skip, to any) hands the list out and wakes each writer with the function
// given to [Subscriber.Notify], with no lock held.
//
// The logs are bounded in bytes and age (and a resume's replay, if asked,
// in messages: HistorySize). They serve both resumes (a client that comes
// back with the ID of the last message it saw) and subscribers that fall
// behind. What a topic's log no longer holds after a subscriber's position
// comes from the [Source], if the hub has one, else is a [Gap]: Take
// reports it once, naming the range that may be missing, and goes on
// without disconnecting. Nothing dropped from memory turns a later resume
// into a silent one: the hub remembers the highest sequence number that
// left each topic, and of every topic it forgot. Take's states and the
// locks are described at the top of subscriber.go.
//
// The hub's errors are values to match (ErrClosed, ErrTooLarge...) and
// types ([TopicError], [LoadError]) whose Reason names no package: the sse
// and ws packages say each in their own words and never pass the hub's
// text on.
package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for [Options]. Each bound applies when the option is zero.
const (
	// DefaultHistoryBytes bounds each topic's log: the data of its messages
	// plus a fixed overhead per message. It is also how far behind a
	// subscriber may fall before it misses messages.
	DefaultHistoryBytes = 2 << 20

	// DefaultHistoryAge is how long a message stays in its topic's log.
	DefaultHistoryAge = 10 * time.Minute

	// DefaultMaxSubscribers is how many subscribers a hub holds at once.
	DefaultMaxSubscribers = 100_000

	// DefaultMaxTopicsPerSubscriber is how many topics one subscriber may
	// follow at once.
	DefaultMaxTopicsPerSubscriber = 64

	// maxTakeBytes bounds the data one Take returns, so that a subscriber
	// far behind catches up in writes of bounded size.
	maxTakeBytes = 1 << 20
)

// Errors reported by the hub; match them with errors.Is.
var (
	// ErrClosed means the hub was closed.
	ErrClosed = errors.New("hub: closed")
	// ErrUnsubscribed means the subscriber was closed by its owner.
	ErrUnsubscribed = errors.New("hub: unsubscribed")
	// ErrTooManySubscribers means the hub holds MaxSubscribers already.
	ErrTooManySubscribers = errors.New("hub: too many subscribers")
	// ErrTooManyTopics means a subscriber asked for more than
	// MaxTopicsPerSubscriber topics.
	ErrTooManyTopics = errors.New("hub: too many topics")
	// ErrInvalidTopic means a topic name is empty, too long, not UTF-8 or
	// holds control characters.
	ErrInvalidTopic = errors.New("hub: invalid topic")
	// ErrTooLarge means a message is larger than its topic's log can hold
	// (HistoryBytes, with the overhead of a message): no subscriber could
	// take it before it left the log.
	ErrTooLarge = errors.New("hub: message larger than HistoryBytes")
	// ErrNoSequence means Publish found no sequence number left: PublishAt
	// took the last, math.MaxUint64.
	ErrNoSequence = errors.New("hub: no sequence number left")
	// ErrFilteredPublish means Publish was called on a filtered hub,
	// whose numbers are its stream's: it applies with PublishAt.
	ErrFilteredPublish = errors.New("hub: Publish on a filtered hub: its numbers are its stream's (PublishAt)")
)

// MessageOverhead is what a topic's log charges for each message besides
// its data, against HistoryBytes.
const MessageOverhead = messageOverhead

// Reasons of a [Gap].
const (
	GapMalformed    = "malformed id"     // the resume ID is not one of ours
	GapUnknownEpoch = "unknown epoch"    // the ID is of another epoch: the server restarted without its history
	GapFuture       = "future id"        // the ID is ahead of every message published
	GapExceeded     = "history exceeded" // messages after the ID left the history
	GapTooSlow      = "too slow"         // a live subscriber fell HistoryBytes behind
)

// Options configure a [Hub]. The zero value uses the defaults above.
type Options struct {
	// HistoryBytes bounds each topic's log, in bytes of data plus a fixed
	// overhead per message. Zero means DefaultHistoryBytes. A subscriber
	// that falls this far behind misses messages and gets a Gap; a message
	// larger than it is refused with ErrTooLarge.
	HistoryBytes int

	// HistorySize bounds how many messages of each topic a resume can
	// replay: one that missed more gets a gap, then the last HistorySize.
	// Zero means no bound in messages. A negative value keeps no history
	// for resumes: a resume after which anything was published is a gap,
	// and nothing is replayed. Live subscribers are bounded by
	// HistoryBytes only, so a burst of many small messages costs none of
	// them a gap.
	HistorySize int

	// HistoryAge bounds how long a message is kept. Zero means
	// DefaultHistoryAge.
	HistoryAge time.Duration

	// MaxSubscribers bounds the subscribers held at once. Zero means
	// DefaultMaxSubscribers.
	MaxSubscribers int

	// MaxTopicsPerSubscriber bounds the topics one subscriber follows. Zero
	// means DefaultMaxTopicsPerSubscriber.
	MaxTopicsPerSubscriber int

	// Source, when set, serves resumes that the logs cannot cover; see
	// [Source]. Without one, such a resume is a gap.
	Source Source

	// ReplayBytes bounds the messages that replays from the Source hold
	// at once, across all subscribers. Zero means DefaultReplayBytes.
	ReplayBytes int

	// CatchUpWait bounds how long a hub that applies a shared stream
	// takes to reach a resume ID of its epoch ahead of the last message
	// applied, before the subscriber gets a gap (see Subscribe). Zero
	// means DefaultCatchUpWait; negative, none.
	CatchUpWait time.Duration

	// Filtered says the hub applies a stream filtered by topic: with
	// PublishAt, every message of each topic that has subscribers, and
	// none of the others (a node of a cluster that consumes the subjects
	// of its clients' topics only). Holes are then per topic: a jump in
	// PublishAt's sequence is other topics' messages, not a hole of any
	// topic; one that PublishAt refuses (ErrTooLarge) is its topic's hole.
	//
	// Its applier may apply topics side by side, in order within each:
	// PublishAt appends a message without making it readable, and SkipTo
	// is the watermark, called once every message up to its number was
	// applied, which makes them readable in order (see filtered.go).
	// Publish is refused: the numbers are the stream's.
	//
	// A topic's history starts when its first subscriber arrives: what
	// came before is a hole (the Source's, or a gap), and it is forgotten
	// when its last subscriber leaves. A message of a topic with no
	// subscriber is kept only until the watermark passes it. A resume from
	// an ID ahead of the hub starts after it at once: the topic's messages
	// up to it are the client's already, and the filter delivers every
	// later one. The applier must deliver each topic's messages after the
	// watermark at the moment its first subscriber arrives.
	Filtered bool

	// Epoch prefixes every ID; it must pass ValidEpoch. Empty means a
	// random one from NewEpoch. IDs of another epoch are a gap on resume,
	// so a hub that restores its history with [Hub.Load] takes the saved
	// epoch.
	Epoch string
}

// limits are the bounds of every topic's log.
type limits struct {
	bytes     int
	count     int // messages a resume may replay; 0: no bound
	age       time.Duration
	noHistory bool
	filtered  bool // Options.Filtered: holes per topic, history for subscribers only
}

// A Message is one published message, shared read-only by its topic's log
// and every subscriber that takes it.
type Message struct {
	// Seq is the message's place in the hub-wide sequence, from 1.
	Seq uint64
	// ID is the epoch and the sequence number, as "epoch-seq".
	ID string
	// Topic is where it was published.
	Topic string
	// Time is when it was published.
	Time time.Time
	// Data is the message encoded once by the publisher. It must not be
	// changed after Publish.
	Data []byte

	alt atomic.Pointer[altEncoding] // see Alt
}

// A Gap says that a subscriber missed messages: a resume the history could
// not cover, or a subscriber that fell too far behind.
type Gap struct {
	// LastID is the ID the subscriber was at: the one it resumed from (cut
	// to MaxIDLength bytes), or the last one it took.
	LastID string
	// Reason is one of the Gap constants.
	Reason string
	// Resume ends the range that may be missing: messages after LastID
	// and up to Resume may be missing (those of that range that the logs
	// still hold follow the gap), and none after it is. It is at least
	// just before the first message that follows the gap, or the
	// subscriber's position when none does ("epoch-0" when nothing was
	// published): the ID to resume from after the gap.
	Resume string
	// Err is why the Source failed, for a gap of reason GapUnavailable.
	Err error
}

// Error describes the gap.
func (g *Gap) Error() string {
	return fmt.Sprintf("hub: gap after %q: %s", g.LastID, g.Reason)
}

// Stats are a hub's counters. Counters only grow, except Subscribers and
// Topics which say what is held now.
type Stats struct {
	Subscribers int    // subscribers held now
	Topics      int    // topics with subscribers or history now
	Published   uint64 // messages published
	Delivered   uint64 // messages taken by subscribers, replays included
	Replayed    uint64 // messages taken by resuming subscribers from before they subscribed
	Gaps        uint64 // resumes that reported a gap
	Lagged      uint64 // gaps of live subscribers that fell HistoryBytes behind
}

// A Hub fans messages out to subscribers by topic. Its methods are safe for
// concurrent use.
type Hub struct {
	limits limits
	maxSubs,
	maxTopics int
	source       Source
	catchUpWait  time.Duration
	replayBudget replayBudget

	// mu serialises Subscribe, the subscribers' topic changes, making and
	// forgetting topics, PublishAt and SkipTo. Publish takes it only to
	// make a topic (see sequence.go). It is never held while a subscriber
	// is woken, nor while a writer reads a log.
	mu        sync.Mutex
	epoch     string   // changes only in Load, before any use
	topics    sync.Map // name to *topic: read with no lock, changed under mu
	ntopics   int      // in topics; guarded by mu
	forgotten uint64   // highest Seq evicted from a topic since forgotten
	all       map[*Subscriber]struct{}

	// above lists the topics of a filtered hub with messages or holes
	// above the head (see filtered.go). aboveMu guards it; a leaf.
	aboveMu sync.Mutex
	above   []*topic

	closed atomic.Bool  // set under mu
	swept  atomic.Int64 // when the logs were last swept, in Unix nanoseconds

	// shared says the hub applies a shared stream (PublishAt or SkipTo
	// was called): a resume ahead of it waits for it (CatchUpWait).
	// Guarded by mu.
	shared bool

	// next is the last sequence number reserved. head is the Seq up to
	// which every message was appended to its log, or given up: every
	// message up to it can be read, and none that comes later is below
	// it. It is stored before the topics' last. See sequence.go. Each has
	// a cache line of its own: every publisher writes both.
	_       [64]byte
	next    atomic.Uint64
	_       [56]byte
	head    atomic.Uint64
	_       [56]byte
	pending [pendingSlots]pendingSlot // numbers completed above head

	stallMu sync.Mutex // guards stall; a leaf
	stall   sync.Cond  // signalled when head moves while a caller of awaitHead waits
	stalled atomic.Int32

	// published counts the messages of topics forgotten, and those a
	// filtered hub kept nowhere; each topic counts its own.
	published, delivered, replayed, gaps, lagged atomic.Uint64
}

// New returns a hub with the given options, or an error wrapping
// ErrInvalidEpoch.
func New(opts Options) (*Hub, error) {
	if opts.Epoch == "" {
		opts.Epoch = NewEpoch()
	}
	if err := ValidEpoch(opts.Epoch); err != nil {
		return nil, err
	}
	l := limits{bytes: opts.HistoryBytes, count: opts.HistorySize, age: opts.HistoryAge, filtered: opts.Filtered}
	if l.bytes <= 0 {
		l.bytes = DefaultHistoryBytes
	}
	if l.count < 0 {
		l.count, l.noHistory = 0, true
	}
	if l.age <= 0 {
		l.age = DefaultHistoryAge
	}
	h := &Hub{
		limits:      l,
		maxSubs:     cmpOr(opts.MaxSubscribers, DefaultMaxSubscribers),
		maxTopics:   cmpOr(opts.MaxTopicsPerSubscriber, DefaultMaxTopicsPerSubscriber),
		source:      opts.Source,
		catchUpWait: opts.CatchUpWait,
		epoch:       opts.Epoch,
		all:         make(map[*Subscriber]struct{}),
	}
	h.stall.L = &h.stallMu
	h.replayBudget.total = cmpOr(opts.ReplayBytes, DefaultReplayBytes)
	h.replayBudget.free = h.replayBudget.total
	if h.catchUpWait == 0 {
		h.catchUpWait = DefaultCatchUpWait
	}
	h.swept.Store(time.Now().UnixNano())
	return h, nil
}

// cmpOr returns v if it is positive, else def.
func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Epoch returns the prefix of the hub's IDs.
func (h *Hub) Epoch() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.epoch
}

// LastID returns the ID of the last message published that subscribers can
// read (see sequence.go), or "" if none was.
func (h *Hub) LastID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	head := h.head.Load()
	if head == 0 {
		return ""
	}
	return FormatID(h.epoch, head)
}

// lookup returns the topic name, or nil. No lock is needed.
func (h *Hub) lookup(name string) *topic {
	if t, ok := h.topics.Load(name); ok {
		return t.(*topic)
	}
	return nil
}

// topic returns the topic name, made if need be. A topic made anew may be
// one the hub forgot, so it starts as having evicted what the hub forgot:
// a resume from before that is a gap, as it is while the topic is absent.
// A filtered hub applied none of its messages up to now: they are a hole.
// h.mu is held.
func (h *Hub) topic(name string) *topic {
	t := h.lookup(name)
	if t == nil {
		evicted := h.forgotten
		if h.limits.filtered {
			evicted = max(evicted, h.head.Load())
		}
		// A copy: name is often part of a request (a query string, a
		// message), which it would keep as long as the topic lives.
		t = &topic{name: strings.Clone(name), evicted: evicted}
		h.topics.Store(t.name, t)
		h.ntopics++
	}
	return t
}

// drop forgets t, which has no subscribers, if its log is empty,
// remembering what it evicted. A publisher that holds t finds it dropped
// and looks it up again. h.mu is held.
func (h *Hub) drop(t *topic) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.log.len() > 0 || t.dropped {
		return // a publisher appended to it meanwhile
	}
	t.dropped = true
	h.forgotten = max(h.forgotten, t.evicted)
	h.published.Add(t.published.Load())
	h.topics.Delete(t.name)
	h.ntopics--
}

// eachTopic calls f for every topic. h.mu is held.
func (h *Hub) eachTopic(f func(*topic)) {
	h.topics.Range(func(_, t any) bool {
		f(t.(*topic))
		return true
	})
}

// Publish stamps the next ID, calls encode once with it to get the message's
// bytes and appends the message to the topic's log, then wakes the
// subscribers that were waiting for it. It never waits on a subscriber.
// Publishers to different topics share no lock: they encode and append
// side by side, and none waits for another. A message is readable (by
// Take, LastID) once the messages before it are: those being encoded
// meanwhile, so encode should be quick, and it must not call back into the
// hub. AwaitPublished waits for the messages whose Publish began.
func (h *Hub) Publish(topicName string, encode func(id string) []byte) (*Message, error) {
	if err := ValidTopic(topicName); err != nil {
		return nil, err
	}
	if h.limits.filtered {
		return nil, ErrFilteredPublish
	}
	if h.closed.Load() {
		return nil, ErrClosed
	}
	seq, err := h.reserve()
	if err != nil {
		return nil, err
	}
	if h.closed.Load() { // after reserve: Close waits for seq, or we see it
		h.complete(seq, nil)
		return nil, ErrClosed
	}
	completed := false
	defer func() {
		if !completed {
			h.complete(seq, nil) // encode panicked: the number is given up
		}
	}()
	now := time.Now()
	id := FormatID(h.epoch, seq)
	m := &Message{Seq: seq, ID: id, Topic: topicName, Time: now, Data: encode(id)}
	if size := len(m.Data) + messageOverhead; size > h.limits.bytes {
		completed = true
		h.release(seq)
		return nil, fmt.Errorf("%w: %d bytes with its overhead, HistoryBytes %d", ErrTooLarge, size, h.limits.bytes)
	}
	t := h.appendTo(topicName, m)
	completed = true
	h.complete(seq, t)
	if h.sweepDue(now) {
		h.mu.Lock()
		h.sweep(now)
		h.mu.Unlock()
	}
	return m, nil
}

// appendTo appends m to the log of the topic name, made if need be, and
// returns the topic.
func (h *Hub) appendTo(name string, m *Message) *topic {
	t := h.lockTopic(name)
	t.append(m, &h.limits)
	t.published.Add(1) // under t.mu: drop adds it up
	t.mu.Unlock()
	return t
}

// lockTopic returns the topic name, made if need be, with its mu locked:
// one the hub has not forgotten since it was looked up.
func (h *Hub) lockTopic(name string) *topic {
	for {
		t := h.lookup(name)
		if t == nil {
			h.mu.Lock()
			t = h.topic(name)
			h.mu.Unlock()
		}
		t.mu.Lock()
		if !t.dropped {
			return t
		}
		t.mu.Unlock() // forgotten since it was looked up
	}
}

// sweepDue reports whether the logs are due a sweep at now, and if so
// records that the caller sweeps them.
func (h *Hub) sweepDue(now time.Time) bool {
	last := h.swept.Load()
	return now.UnixNano()-last > int64(h.limits.age/4) && h.swept.CompareAndSwap(last, now.UnixNano())
}

// PublishAt is Publish with the sequence number seq assigned outside the
// hub (the sequence of a stream that several hubs apply), so that every
// hub gives the message the same ID. A seq not above the last one applied
// returns an error wrapping ErrStale, and the message is not applied. A
// seq more than one above it means the messages between were not applied
// here: a resume from before them is served by the Source or is a gap, and
// so is a live subscriber's next Take (unless the hub had applied nothing
// yet: its live subscribers start from seq). encode runs while the hub is
// locked.
//
// On a filtered hub (Options.Filtered), PublishAt runs side by side for
// different topics, in order within each; the message is readable once
// SkipTo reaches it, and a seq not above that or the topic's last one
// applied is stale.
func (h *Hub) PublishAt(seq uint64, topicName string, encode func(id string) []byte) (*Message, error) {
	if seq == 0 {
		return nil, fmt.Errorf("%w: sequence number 0", ErrStale)
	}
	if err := ValidTopic(topicName); err != nil {
		return nil, err
	}
	if h.limits.filtered {
		return h.publishFiltered(seq, topicName, encode)
	}
	if h.closed.Load() {
		return nil, ErrClosed
	}
	prev, seq, err := h.reserveTo(seq)
	if err != nil {
		return nil, err
	}
	h.awaitHead(prev)
	h.mu.Lock()
	var skipped []handedOut
	if seq > prev+1 {
		skipped = h.skip(prev, seq-1)
	}
	if h.closed.Load() { // Close returned once we reserved: give them up
		h.setHead(seq)
		h.mu.Unlock()
		h.advance()
		wakeSkipped(skipped)
		return nil, ErrClosed
	}
	h.shared = true
	now := time.Now()
	id := FormatID(h.epoch, seq)
	m := &Message{Seq: seq, ID: id, Topic: topicName, Time: now}
	m.Data = h.encodeOwned(seq, id, encode, skipped)
	if size := len(m.Data) + messageOverhead; size > h.limits.bytes {
		if h.next.CompareAndSwap(seq, seq-1) {
			// Not applied: the numbers before it are skipped all the
			// same, and it is one more skipped number for the next. The
			// head is at seq-1 already, and may be moved past it from now
			// on by Publish, whose next message takes it: it is not stored
			// again (that could move it back).
			h.unstall() // for settle, which waits for next
		} else {
			// A Publish took the next number already: skipped now.
			skipped = append(skipped, h.skip(seq-1, seq)...)
		}
		h.mu.Unlock()
		h.advance()
		wakeSkipped(skipped)
		return nil, fmt.Errorf("%w: %d bytes with its overhead, HistoryBytes %d", ErrTooLarge, size, h.limits.bytes)
	}
	t := h.topic(topicName)
	t.mu.Lock()
	t.append(m, &h.limits)
	t.published.Add(1)
	t.mu.Unlock()
	// Readable first (head), then announced (last): a writer that sees
	// last past its position must find the message under head, or it
	// would find nothing to take and no reason to wait, and spin until
	// the head moved.
	h.setHead(seq)
	wake := t.announce(seq)
	if h.sweepDue(now) {
		h.sweep(now)
	}
	h.mu.Unlock()
	h.advance()
	wakeSkipped(skipped)
	t.wake(wake)
	return m, nil
}

// encodeOwned returns encode(id) for PublishAt, which holds h.mu and owns
// the head up to seq: if encode panics, seq is given up, h.mu released and
// the waiting lists in skipped woken before the panic goes on.
func (h *Hub) encodeOwned(seq uint64, id string, encode func(id string) []byte, skipped []handedOut) []byte {
	ok := false
	defer func() {
		if !ok {
			h.setHead(seq)
			h.mu.Unlock()
			h.advance()
			wakeSkipped(skipped)
		}
	}()
	data := encode(id)
	ok = true
	return data
}

// SkipTo records that the shared stream the hub applies is at seq, with
// nothing more to apply up to it: what the hub did not apply up to seq is
// served by the Source, or is a gap. A node that starts on a stream whose
// messages were all deleted calls it with the stream's last sequence
// number, so that a client resuming from it misses nothing and waits for
// nothing. A seq not above the last one applied returns an error wrapping
// ErrStale.
//
// On a filtered hub (Options.Filtered), SkipTo is the applier's watermark:
// every message up to seq that the hub is to apply was applied (its
// PublishAt returned). It makes them readable, in order, and marks no
// hole: the numbers not applied are other topics'.
func (h *Hub) SkipTo(seq uint64) error {
	if h.closed.Load() {
		return ErrClosed
	}
	if seq == 0 {
		return fmt.Errorf("%w: sequence number 0", ErrStale)
	}
	if h.limits.filtered {
		return h.skipFiltered(seq)
	}
	prev, _, err := h.reserveTo(seq)
	if err != nil {
		return err
	}
	h.awaitHead(prev)
	h.mu.Lock()
	skipped := h.skip(prev, seq)
	h.shared = true
	h.mu.Unlock()
	h.advance()
	wakeSkipped(skipped)
	return nil
}

// skip records that the messages after prev up to to were not applied:
// every topic counts them as evicted, and the head moves to to. Live
// subscribers of a hub that had applied nothing (prev is 0) start after
// them. It returns the topics whose waiting lists it handed out: their
// writers have a hole to take from the Source or as a gap, and the caller
// wakes them with wakeSkipped once h.mu is released. h.mu is held, and the
// head is the caller's (see sequence.go).
//
// The order matters to writers, which read the hub's head, then each
// topic, then go on its waiting list: the marks come first, then the
// head (a writer that reads up to it finds the holes), then each topic's
// skipped, before its list is handed out (a writer that goes to wait
// after that sees it, and reads the head again).
func (h *Hub) skip(prev, to uint64) []handedOut {
	h.forgotten = max(h.forgotten, to)
	h.eachTopic(func(t *topic) {
		t.mu.Lock()
		t.evicted = max(t.evicted, to)
		t.mu.Unlock()
	})
	if prev == 0 {
		for s := range h.all {
			s.startAfter(to)
		}
	}
	h.setHead(to)
	var skipped []handedOut
	h.eachTopic(func(t *topic) {
		t.skipped.Store(to)
		if list := t.handOut(); list != nil {
			skipped = append(skipped, handedOut{t, list})
		}
	})
	return skipped
}

// A handedOut is a waiting list that skip handed out.
type handedOut struct {
	t    *topic
	list []*Subscriber
}

// wakeSkipped wakes the writers that skip handed out.
func wakeSkipped(lists []handedOut) {
	for _, l := range lists {
		l.t.wakeAll(l.list)
	}
}

// sweep evicts aged messages from every topic, and forgets topics left
// with neither messages nor subscribers. h.mu is held.
func (h *Hub) sweep(now time.Time) {
	h.eachTopic(func(t *topic) {
		t.mu.Lock()
		t.trim(&h.limits, now)
		empty := t.log.len() == 0
		t.mu.Unlock()
		if empty && t.subs == 0 {
			h.drop(t)
		}
	})
}

// Subscribe adds a subscriber to topics. With an empty lastID, it takes
// what is published from now on. Otherwise it resumes: its first Take
// returns every message after lastID in those topics, in order, from the
// logs, and a Gap first when the logs cannot cover all of them (then what
// the logs hold after lastID, or all of it when lastID is malformed or of
// another epoch). Nothing is both replayed and delivered live.
//
// When the logs cannot cover a resume and the hub has a Source, Take
// returns what the Source holds first, then goes on with the logs; the
// Source's calls get ctx's values, and end when the subscriber does. A
// resume from an ID of the hub's epoch ahead of the last message applied,
// on a hub that applies a shared stream (PublishAt, SkipTo, or a Source),
// starts after that ID: Take returns what follows it once the hub catches
// up, or, past CatchUpWait, a gap and what follows the hub's position
// then. Subscribe itself never waits, and reads no topic's log: Take does.
func (h *Hub) Subscribe(ctx context.Context, topics []string, lastID string) (*Subscriber, error) {
	names, err := h.checkTopics(topics)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return nil, ErrClosed
	}
	if len(h.all) >= h.maxSubs {
		return nil, ErrTooManySubscribers
	}
	s := &Subscriber{hub: h, epoch: h.epoch, fromNow: lastID == ""}
	if h.source != nil {
		s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	start := follow{pos: h.head.Load()}
	if lastID != "" {
		var ahead bool
		var gap *gapEvent
		start, gap, ahead = h.resumeFrom(lastID)
		s.addGap(gap)
		if ahead {
			s.awaitCatchUp(lastID, start.pos, h.catchUpWait)
		}
	}
	// Subscribe reads no topic's log (that would wait for its readers
	// while holding h.mu, which Publish needs): the first Take does.
	s.mu.Lock()
	for _, name := range names {
		f := start
		s.add(h.topic(name), &f)
	}
	s.mu.Unlock()
	h.all[s] = struct{}{}
	return s, nil
}

// resumeFrom returns the follow of a topic resumed from lastID, and the
// gap to report first. On a hub that applies a shared stream, with a
// CatchUpWait, a resume from an ID of its epoch ahead of it starts after
// that ID and reports ahead: the subscriber waits for the hub to catch
// up. The hub's position is its head. h.mu is held; no topic is read.
func (h *Hub) resumeFrom(lastID string) (follow, *gapEvent, bool) {
	head := h.head.Load()
	f := follow{pos: head, replayTo: head}
	epoch, after, ok := ParseID(lastID)
	switch {
	case !ok || epoch != h.epoch:
		reason := GapMalformed
		if ok {
			reason = GapUnknownEpoch
		}
		f.pos, f.resume = 0, resumeAll
		if h.limits.noHistory {
			f.hole = head
		}
		return f, &gapEvent{lastID: reportedID(lastID), reason: reason}, false
	case after > head && h.limits.filtered:
		f.pos = after // see Options.Filtered
		return f, nil, false
	case after > head && h.catchUpWait > 0 && (h.shared || h.source != nil):
		f.pos = after
		return f, nil, true
	case after > head:
		return f, &gapEvent{lastID: reportedID(lastID), lo: after, hi: head, reason: GapFuture}, false
	case after < head:
		f.pos, f.resume = after, resumeID
		if h.limits.noHistory {
			f.hole = head // the logs serve live subscribers only
		}
	}
	return f, nil, false
}

// reportedID returns lastID as a Gap reports it: cut to MaxIDLength bytes
// of valid UTF-8, which is longer than any ID of ours.
func reportedID(lastID string) string {
	if len(lastID) <= MaxIDLength {
		return lastID
	}
	return strings.ToValidUTF8(lastID[:MaxIDLength], "")
}

func (h *Hub) checkTopics(topics []string) ([]string, error) {
	names := slices.Clone(topics)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > h.maxTopics {
		return nil, &TopicError{Err: ErrTooManyTopics, Reason: fmt.Sprintf("%d topics, at most %d", len(names), h.maxTopics)}
	}
	for _, name := range names {
		if err := ValidTopic(name); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// unfollow is called once s stopped following t. h.mu is held.
func (h *Hub) unfollow(t *topic) {
	t.subs--
	t.forget(t.subs)
	// A reader, not a writer: a publisher holds t.mu only to append.
	t.mu.RLock()
	empty := t.log.len() == 0
	t.mu.RUnlock()
	switch {
	case t.subs > 0 || empty:
	case h.limits.filtered:
		// Kept for subscribers only, but for what is above the head: a
		// subscriber that comes before the head reaches it starts below.
		t.mu.Lock()
		t.clearTo(h.head.Load())
		empty = t.log.len() == 0
		t.mu.Unlock()
	case h.limits.noHistory:
		t.mu.Lock()
		t.clear() // kept for subscribers only
		t.mu.Unlock()
		empty = true
	}
	if empty && t.subs == 0 {
		h.drop(t)
	}
}

// end ends s with err and reports whether it was live. h.mu is held.
func (h *Hub) end(s *Subscriber, err error) bool {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return false
	}
	s.err = err
	s.ended.Store(true)
	if s.cancel != nil {
		s.cancel()
	}
	if s.ahead != nil {
		s.ahead.timer.Stop()
		s.ahead = nil
	}
	s.gap, s.future = nil, nil
	s.releaseHeld()
	follows := s.follows
	s.follows = nil
	s.mu.Unlock()
	for _, f := range follows {
		h.unfollow(f.t)
	}
	delete(h.all, s)
	return true
}

// Close ends every subscriber with ErrClosed, wakes their writers, and
// refuses further Publish and Subscribe calls. It returns once the
// publishes under way returned, so that a Save after Close holds every
// message Publish returned.
func (h *Hub) Close() {
	h.mu.Lock()
	var ended []*Subscriber
	if !h.closed.Load() {
		h.closed.Store(true)
		ended = make([]*Subscriber, 0, len(h.all))
		for s := range h.all {
			if h.end(s, ErrClosed) {
				ended = append(ended, s)
			}
		}
	}
	h.mu.Unlock()
	for _, s := range ended {
		s.wake()
	}
	h.settle()
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	subs, topics := len(h.all), h.ntopics
	published := h.published.Load()
	h.eachTopic(func(t *topic) { published += t.published.Load() })
	h.mu.Unlock()
	return Stats{
		Subscribers: subs,
		Topics:      topics,
		Published:   published,
		Delivered:   h.delivered.Load(),
		Replayed:    h.replayed.Load(),
		Gaps:        h.gaps.Load(),
		Lagged:      h.lagged.Load(),
	}
}
