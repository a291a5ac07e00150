// Package hub is the broadcast core shared by the sse and ws packages:
// topics, subscribers with bounded queues, one sequence of message IDs with
// an epoch, bounded replay history and counters. It knows nothing of HTTP.
//
// A message travels like this: [Hub.Publish] stamps the next sequence
// number, lets the caller encode the message once with its ID, appends it to
// the topic's history and puts a pointer to it in the queue of every
// subscriber of the topic, never blocking. A subscriber whose queue is full
// is ended with [ErrSlowSubscriber]. The subscriber's writer wakes on
// [Subscriber.Ready], takes everything waiting with [Subscriber.Take], writes
// it and flushes once.
package hub

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Defaults for [Options]. Each bound applies when the option is zero.
const (
	// DefaultQueueSize is how many messages may wait for one subscriber's
	// writer before the subscriber is ended as too slow.
	DefaultQueueSize = 1024

	// DefaultHistorySize is how many messages each topic keeps for replay.
	DefaultHistorySize = 1024

	// DefaultHistoryAge is how long a message stays in its topic's history.
	DefaultHistoryAge = 10 * time.Minute

	// DefaultMaxSubscribers is how many subscribers a hub holds at once.
	DefaultMaxSubscribers = 100_000

	// DefaultMaxTopicsPerSubscriber is how many topics one subscriber may
	// follow at once.
	DefaultMaxTopicsPerSubscriber = 64

	// MaxTopicLength is the longest topic name, in bytes.
	MaxTopicLength = 256

	// MaxIDLength is the longest ID that ParseID accepts, in bytes.
	MaxIDLength = 64
)

// Errors reported by the hub. Subscribers that end carry one of these in
// [Subscriber.Err]; match them with errors.Is.
var (
	// ErrClosed means the hub was closed.
	ErrClosed = errors.New("hub: closed")
	// ErrSlowSubscriber means the subscriber's queue was full when a message
	// arrived: its writer could not keep up, so it was ended.
	ErrSlowSubscriber = errors.New("hub: subscriber too slow: queue full")
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
)

// Options configure a [Hub]. The zero value uses the defaults above.
type Options struct {
	// QueueSize bounds the messages waiting for one subscriber's writer.
	// Zero means DefaultQueueSize. A subscriber whose queue is full when a
	// message arrives is ended with ErrSlowSubscriber and counted.
	QueueSize int

	// HistorySize bounds the messages kept per topic for replay. Zero means
	// DefaultHistorySize; a negative value keeps no history, so every resume
	// is a gap.
	HistorySize int

	// HistoryAge bounds how long a message is kept for replay. Zero means
	// DefaultHistoryAge.
	HistoryAge time.Duration

	// MaxSubscribers bounds the subscribers held at once. Zero means
	// DefaultMaxSubscribers.
	MaxSubscribers int

	// MaxTopicsPerSubscriber bounds the topics one subscriber follows. Zero
	// means DefaultMaxTopicsPerSubscriber.
	MaxTopicsPerSubscriber int

	// Epoch prefixes every ID. Empty means a random one chosen by New. It
	// must be printable and at most 43 bytes, as Load checks of a snapshot. IDs
	// from another epoch are a gap on resume, so a hub that restores its
	// history with [Hub.Load] takes the saved epoch.
	Epoch string
}

// A Message is one published message, shared read-only by the history and
// every subscriber queue it was put in.
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
}

// A Gap says that a resume could not be served completely: events the
// client asked for are no longer, or never were, in the history.
type Gap struct {
	// LastID is the ID the client resumed from.
	LastID string
	// Reason says why: "unknown epoch", "malformed id", "future id" or
	// "history exceeded".
	Reason string
	// Resume is the ID the client should resume from after the gap: just
	// before the first message replayed, or the last ID published when
	// nothing is replayed ("epoch-0" when nothing was published).
	Resume string
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
	Delivered   uint64 // messages taken by subscribers' writers
	Replayed    uint64 // messages handed out by resumes
	Gaps        uint64 // resumes that reported a gap
	SlowEnded   uint64 // subscribers ended by ErrSlowSubscriber
	Dropped     uint64 // messages still queued when their subscriber ended
}

// A Hub fans messages out to subscribers by topic. Its methods are safe for
// concurrent use.
type Hub struct {
	opts Options          // Epoch changes only in Load
	now  func() time.Time // time.Now; tests replace it

	mu     sync.Mutex // serialises Publish, Subscribe and topic changes
	seq    uint64
	topics map[string]*topic
	closed bool
	all    map[*Subscriber]struct{} // every live subscriber
	swept  time.Time

	published, delivered, replayed, gaps, slowEnded, dropped atomic.Uint64
}

type topic struct {
	subs    map[*Subscriber]struct{}
	history ring
	// evicted is the highest Seq that left the history. A resume from
	// before it is a gap.
	evicted uint64
}

// keep adds m to t's history, which holds at most limit messages; with a
// limit of zero or less it holds none.
func (t *topic) keep(m *Message, limit int) {
	if limit <= 0 {
		t.evicted = m.Seq
		return
	}
	if old := t.history.push(m, limit); old != nil {
		t.evicted = old.Seq
	}
}

// topic returns the topic name, made if need be. h.mu is held.
func (h *Hub) topic(name string) *topic {
	t := h.topics[name]
	if t == nil {
		t = &topic{}
		h.topics[name] = t
	}
	return t
}

// New returns a hub with the given options.
func New(opts Options) *Hub {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.HistorySize == 0 {
		opts.HistorySize = DefaultHistorySize
	}
	if opts.HistoryAge <= 0 {
		opts.HistoryAge = DefaultHistoryAge
	}
	if opts.MaxSubscribers <= 0 {
		opts.MaxSubscribers = DefaultMaxSubscribers
	}
	if opts.MaxTopicsPerSubscriber <= 0 {
		opts.MaxTopicsPerSubscriber = DefaultMaxTopicsPerSubscriber
	}
	if opts.Epoch == "" {
		opts.Epoch = newEpoch()
	}
	return &Hub{
		opts:   opts,
		topics: make(map[string]*topic),
		all:    make(map[*Subscriber]struct{}),
		swept:  time.Now(),
		now:    time.Now,
	}
}

func newEpoch() string {
	var b [6]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Epoch returns the prefix of the hub's IDs.
func (h *Hub) Epoch() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.opts.Epoch
}

// FormatID returns the ID of sequence number seq in epoch.
func FormatID(epoch string, seq uint64) string {
	return epoch + "-" + strconv.FormatUint(seq, 10)
}

// ParseID splits an ID made by FormatID. It reports false for anything else,
// including IDs longer than MaxIDLength. Sequence number 0 is valid: the ID
// "epoch-0" stands before the first message, so a client that resumes from
// it asks for everything the history holds.
func ParseID(id string) (epoch string, seq uint64, ok bool) {
	if len(id) > MaxIDLength {
		return "", 0, false
	}
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id[:i], seq, true
}

// ValidTopic reports whether name can be a topic: 1 to MaxTopicLength bytes
// of UTF-8 with no control characters. The error wraps ErrInvalidTopic.
func ValidTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidTopic)
	case len(name) > MaxTopicLength:
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalidTopic, MaxTopicLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: name is not UTF-8", ErrInvalidTopic)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: name holds control character %U", ErrInvalidTopic, r)
		}
	}
	return nil
}

// Publish stamps the next ID, calls encode once with it to get the message's
// bytes, keeps the message in the topic's history and queues it for every
// subscriber of the topic. It never waits on a subscriber. encode runs while
// the hub is locked, so it must not call back into the hub.
func (h *Hub) Publish(topicName string, encode func(id string) []byte) (*Message, error) {
	if err := ValidTopic(topicName); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	now := h.now()
	h.seq++
	id := FormatID(h.opts.Epoch, h.seq)
	m := &Message{Seq: h.seq, ID: id, Topic: topicName, Time: now, Data: encode(id)}
	t := h.topic(topicName)
	t.keep(m, h.opts.HistorySize)
	for s := range t.subs {
		h.enqueue(s, m)
	}
	h.published.Add(1)
	if now.Sub(h.swept) > h.opts.HistoryAge/4 {
		h.sweep(now)
	}
	return m, nil
}

// enqueue puts m in s's queue, or ends s if the queue is full. h.mu is held.
func (h *Hub) enqueue(s *Subscriber, m *Message) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= h.opts.QueueSize {
		s.mu.Unlock()
		h.slowEnded.Add(1)
		h.end(s, ErrSlowSubscriber)
		return
	}
	s.queue = append(s.queue, m)
	wake := len(s.queue) == 1
	notify, ready := s.notify, s.ready
	s.mu.Unlock()
	switch {
	case !wake:
	case notify != nil:
		notify()
	case ready != nil:
		select {
		case ready <- struct{}{}:
		default:
		}
	}
}

// sweep drops messages older than HistoryAge from every topic, and topics
// left with neither history nor subscribers. h.mu is held.
func (h *Hub) sweep(now time.Time) {
	h.swept = now
	for name, t := range h.topics {
		h.expire(t, now)
		if len(t.subs) == 0 && t.history.len() == 0 {
			delete(h.topics, name)
		}
	}
}

// expire drops the messages of t older than HistoryAge. h.mu is held.
func (h *Hub) expire(t *topic, now time.Time) {
	cutoff := now.Add(-h.opts.HistoryAge)
	for t.history.len() > 0 {
		m := t.history.at(0)
		if !m.Time.Before(cutoff) {
			break
		}
		t.history.pop()
		t.evicted = m.Seq
	}
}

// Subscribe adds a subscriber to topics. When lastID is not empty, the
// returned replay holds every message after lastID in those topics, in
// order, and gap is not nil when the history cannot cover all of them: the
// replay then holds what the history has after lastID, or all of it when
// lastID is of another epoch. Messages published after Subscribe returns
// arrive in the subscriber's queue; none is both replayed and queued.
func (h *Hub) Subscribe(topics []string, lastID string) (s *Subscriber, replay []*Message, gap *Gap, err error) {
	names, err := h.checkTopics(topics)
	if err != nil {
		return nil, nil, nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, nil, ErrClosed
	}
	if len(h.all) >= h.opts.MaxSubscribers {
		return nil, nil, nil, ErrTooManySubscribers
	}
	s = &Subscriber{hub: h}
	for _, name := range names {
		h.join(s, name)
	}
	h.all[s] = struct{}{}
	if lastID != "" {
		replay, gap = h.replay(names, lastID)
		h.replayed.Add(uint64(len(replay)))
		if gap != nil {
			h.gaps.Add(1)
		}
	}
	return s, replay, gap, nil
}

func (h *Hub) checkTopics(topics []string) ([]string, error) {
	names := slices.Clone(topics)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > h.opts.MaxTopicsPerSubscriber {
		return nil, fmt.Errorf("%w: %d topics, at most %d", ErrTooManyTopics, len(names), h.opts.MaxTopicsPerSubscriber)
	}
	for _, name := range names {
		if err := ValidTopic(name); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// join adds s to the topic name. h.mu is held.
func (h *Hub) join(s *Subscriber, name string) {
	t := h.topic(name)
	if t.subs == nil {
		t.subs = make(map[*Subscriber]struct{})
	}
	t.subs[s] = struct{}{}
	s.topics = append(s.topics, name)
}

// replay collects the messages after lastID in topics. h.mu is held.
func (h *Hub) replay(names []string, lastID string) ([]*Message, *Gap) {
	now := h.now()
	epoch, after, ok := ParseID(lastID)
	var gap *Gap
	switch {
	case !ok:
		gap, after = &Gap{LastID: lastID, Reason: "malformed id"}, 0
	case epoch != h.opts.Epoch:
		gap, after = &Gap{LastID: lastID, Reason: "unknown epoch"}, 0
	case after > h.seq:
		gap, after = &Gap{LastID: lastID, Reason: "future id"}, 0
	}
	var out []*Message
	for _, name := range names {
		t := h.topics[name]
		if t == nil {
			continue
		}
		h.expire(t, now)
		if gap == nil && t.evicted > after {
			gap = &Gap{LastID: lastID, Reason: "history exceeded"}
		}
		for i := t.history.len() - 1; i >= 0; i-- {
			m := t.history.at(i)
			if m.Seq <= after {
				break
			}
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *Message) int { return cmp.Compare(a.Seq, b.Seq) })
	if gap != nil {
		resume := h.seq
		if len(out) > 0 {
			resume = out[0].Seq - 1
		}
		gap.Resume = FormatID(h.opts.Epoch, resume)
	}
	return out, gap
}

// end removes s from the hub and closes its Done channel with err. h.mu is
// held.
func (h *Hub) end(s *Subscriber, err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	notify, done := s.notify, s.done
	queued := len(s.queue)
	s.queue = nil
	s.mu.Unlock()
	if queued > 0 {
		h.dropped.Add(uint64(queued))
	}
	for _, name := range s.topics {
		h.leave(s, name)
	}
	s.topics = nil
	delete(h.all, s)
	if done != nil {
		close(done)
	}
	if notify != nil {
		notify()
	}
}

// leave removes s from the topic name. h.mu is held.
func (h *Hub) leave(s *Subscriber, name string) {
	t := h.topics[name]
	if t == nil {
		return
	}
	delete(t.subs, s)
	if len(t.subs) == 0 && t.history.len() == 0 {
		delete(h.topics, name)
	}
}

// Close ends every subscriber with ErrClosed and refuses further Publish and
// Subscribe calls. It does not wait for writers; they see Done closed.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.all {
		h.end(s, ErrClosed)
	}
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	subs, topics := len(h.all), len(h.topics)
	h.mu.Unlock()
	return Stats{
		Subscribers: subs,
		Topics:      topics,
		Published:   h.published.Load(),
		Delivered:   h.delivered.Load(),
		Replayed:    h.replayed.Load(),
		Gaps:        h.gaps.Load(),
		SlowEnded:   h.slowEnded.Load(),
		Dropped:     h.dropped.Load(),
	}
}

// LastID returns the ID of the last message published, or "" if none was.
func (h *Hub) LastID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seq == 0 {
		return ""
	}
	return FormatID(h.opts.Epoch, h.seq)
}

// A Subscriber receives the messages of its topics in its queue. Its owner
// runs a writer that waits on Ready, calls Take and writes what it got, and
// stops when Done is closed.
type Subscriber struct {
	hub    *Hub
	topics []string // guarded by hub.mu

	mu    sync.Mutex
	queue []*Message
	err   error

	// ready and done are made on first use: a subscriber woken through
	// Notify never needs them, and an idle one should hold little.
	ready  chan struct{} // guarded by mu
	done   chan struct{} // guarded by mu
	notify func()        // guarded by mu: see Notify
}

// Notify makes the hub call f, in place of a send on Ready, each time
// messages start waiting for s, and once when s ends. f runs while the hub
// is locked, so it must return quickly and must not call the hub. When
// messages are waiting or s has ended already, Notify calls f at once. A
// writer woken by f needs no goroutine of its own while s is idle.
func (s *Subscriber) Notify(f func()) {
	s.mu.Lock()
	s.notify = f
	pending := len(s.queue) > 0 || s.err != nil
	s.mu.Unlock()
	if pending {
		f()
	}
}

// Ready returns a channel that receives a value when messages are waiting.
// A receive may find the queue empty already; call Take and carry on.
func (s *Subscriber) Ready() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready == nil {
		s.ready = make(chan struct{}, 1)
		if len(s.queue) > 0 {
			s.ready <- struct{}{}
		}
	}
	return s.ready
}

// Done returns a channel that is closed when the subscriber has ended: the
// hub closed, the queue overflowed, or Close was called. Err says which.
func (s *Subscriber) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.err != nil {
			close(s.done)
		}
	}
	return s.done
}

// Err returns why the subscriber ended, or nil while it is live.
func (s *Subscriber) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Take appends every waiting message to buf, in order, and returns it. The
// queue's storage is swapped with buf's, so a writer that passes back the
// slice it got last time allocates nothing once warmed up.
func (s *Subscriber) Take(buf []*Message) []*Message {
	clear(buf[:cap(buf)])
	s.mu.Lock()
	got := s.queue
	s.queue = buf[:0]
	s.mu.Unlock()
	if len(got) > 0 {
		s.hub.delivered.Add(uint64(len(got)))
	}
	return got
}

// Topics returns the topics s follows, sorted.
func (s *Subscriber) Topics() []string {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return slices.Clone(s.topics)
}

// Join adds topics to s, without replay.
func (s *Subscriber) Join(topics ...string) error {
	names, err := s.hub.checkTopics(topics)
	if err != nil {
		return err
	}
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := s.Err(); err != nil {
		return err
	}
	var add []string
	for _, name := range names {
		if !slices.Contains(s.topics, name) {
			add = append(add, name)
		}
	}
	if len(s.topics)+len(add) > h.opts.MaxTopicsPerSubscriber {
		return fmt.Errorf("%w: at most %d", ErrTooManyTopics, h.opts.MaxTopicsPerSubscriber)
	}
	for _, name := range add {
		h.join(s, name)
	}
	slices.Sort(s.topics)
	return nil
}

// Leave removes topics from s. Topics it does not follow are ignored.
func (s *Subscriber) Leave(topics ...string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range topics {
		if i := slices.Index(s.topics, name); i >= 0 {
			s.topics = slices.Delete(s.topics, i, i+1)
			h.leave(s, name)
		}
	}
}

// Close ends s with ErrUnsubscribed. It is safe to call more than once and
// after the hub ended s.
func (s *Subscriber) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.end(s, ErrUnsubscribed)
}

// ring is a bounded FIFO of messages that grows on demand up to its limit.
type ring struct {
	buf   []*Message
	start int
	n     int
}

func (r *ring) len() int { return r.n }

func (r *ring) at(i int) *Message { return r.buf[(r.start+i)%len(r.buf)] }

// push appends m, and returns the message it pushed out when full.
func (r *ring) push(m *Message, limit int) (old *Message) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = m
		r.n++
		return nil
	}
	if len(r.buf) < limit {
		// Grow: unroll into a larger slice.
		size := min(max(2*len(r.buf), 8), limit)
		nb := make([]*Message, size)
		for i := range r.n {
			nb[i] = r.at(i)
		}
		r.buf, r.start = nb, 0
		r.buf[r.n] = m
		r.n++
		return nil
	}
	old = r.buf[r.start]
	r.buf[r.start] = m
	r.start = (r.start + 1) % len(r.buf)
	return old
}

// pop removes the oldest message.
func (r *ring) pop() {
	r.buf[r.start] = nil
	r.start = (r.start + 1) % len(r.buf)
	r.n--
}

// all returns the messages oldest first.
func (r *ring) all() []*Message {
	out := make([]*Message, r.n)
	for i := range r.n {
		out[i] = r.at(i)
	}
	return out
}
