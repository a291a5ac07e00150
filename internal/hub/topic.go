package hub

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// messageOverhead is what the history charges for each message besides its
// data: the Message itself, its ID and its slot in the log.
const messageOverhead = 128

// A topic is a log of the messages published to it, oldest first, bounded
// by the hub's history limits. Subscribers read it from their own position:
// a topic holds each message once, whatever the number of subscribers.
type topic struct {
	name string
	subs int // subscribers following it; guarded by Hub.mu

	// mu guards the log: writers of subscribers read it together (RLock),
	// Publish and eviction change it.
	mu      sync.RWMutex
	log     ring     // in Seq order
	bytes   int      // data and overhead of the messages in log
	evicted uint64   // highest Seq that left the log: a reader before it missed messages
	dropped bool     // the hub forgot the topic: a publisher that found it finds it anew
	applied uint64   // a filtered hub's: the highest Seq PublishAt applied
	above   bool     // a filtered hub's: on Hub.above (see filtered.go)
	refused []uint64 // a filtered hub's: messages refused above the head, holes once it passes them

	// published counts the messages appended; written under mu.
	published atomic.Uint64

	// last is the highest Seq appended that the hub's head reached, 0
	// before any. It is stored after the head (so a message it announces
	// can be read) and before the waiting list is handed out: see
	// announce.
	last atomic.Uint64
	// skipped is the highest Seq a skip marked evicted, stored after the
	// hub's head and before the waiting list is handed out (see Hub.skip):
	// a writer that goes to wait behind it has a hole to take first.
	skipped atomic.Uint64

	// waitMu guards the waiting list, apart from the log, so that
	// subscribers that go to wait do not queue behind readers of the log.
	// waiting lists the subscribers that have read everything and asked to
	// be woken by the next message. Publish hands the whole list out and
	// bumps gen; a subscriber is on the current list while its follow's
	// gen equals gen.
	waitMu  sync.Mutex
	waiting []*Subscriber
	spare   []*Subscriber // the storage of the list handed out last, for reuse
	gen     uint64
}

// append adds m to the log, in Seq order (publishers append side by side,
// so a number may arrive after a later one), and evicts what the limits no
// longer allow. It does not store last: announce does, once the hub's head
// reached m. t.mu is held.
func (t *topic) append(m *Message, l *limits) {
	t.log.insert(m)
	t.bytes += len(m.Data) + messageOverhead
	t.trim(l, m.Time)
}

// announce records that the hub's head reached seq, appended to t, and
// returns the waiting list to wake. Announcers of one topic may race: last
// never goes back.
func (t *topic) announce(seq uint64) []*Subscriber {
	for last := t.last.Load(); last < seq && !t.last.CompareAndSwap(last, seq); last = t.last.Load() {
	}
	return t.handOut()
}

// wake wakes a list that handOut handed out: on the caller's goroutine, or
// on one of its own when it is long.
func (t *topic) wake(list []*Subscriber) {
	switch {
	case len(list) > maxWakeOnPublisher:
		go t.wakeAll(list)
	case list != nil:
		t.wakeAll(list)
	}
}

// handOut returns the subscribers waiting for a message, for Publish to
// wake once a message was appended, and starts a new list.
func (t *topic) handOut() []*Subscriber {
	t.waitMu.Lock()
	defer t.waitMu.Unlock()
	if len(t.waiting) == 0 {
		return nil
	}
	wake := t.waiting
	t.waiting, t.spare = t.spare[:0], nil
	t.gen++
	return wake
}

// maxWakeOnPublisher is the longest waiting list Publish wakes on its own
// goroutine; a longer one is woken on a goroutine of its own, so that the
// publisher goes on to the next message while thousands of writers are
// woken (woken one by one by the publisher, each of them took one message,
// wrote it and waited again, to be woken again by the next message).
const maxWakeOnPublisher = 256

// wakeAll wakes the subscribers of a list handOut handed out, then gives
// its storage back.
func (t *topic) wakeAll(list []*Subscriber) {
	for _, s := range list {
		s.wake()
	}
	t.recycle(list)
}

// recycle gives back the storage of a list that handOut handed out.
func (t *topic) recycle(list []*Subscriber) {
	clear(list)
	t.waitMu.Lock()
	if t.spare == nil && cap(list) <= maxSpareWaiting {
		t.spare = list[:0]
	}
	t.waitMu.Unlock()
}

// maxSpareWaiting is the largest waiting list whose storage a topic keeps.
const maxSpareWaiting = 1 << 14

// trim evicts the oldest messages while the log is over its byte bound or
// its oldest message is older than the age bound. (The bound in messages
// limits resumes only: see Subscriber.resolveResume.) t.mu is held.
func (t *topic) trim(l *limits, now time.Time) {
	cutoff := now.Add(-l.age)
	for t.log.len() > 0 {
		m := t.log.at(0)
		if t.bytes <= l.bytes && !m.Time.Before(cutoff) {
			break
		}
		t.log.pop()
		t.bytes -= len(m.Data) + messageOverhead
		t.evicted = max(t.evicted, m.Seq) // not below what a skip marked
	}
}

// clear evicts every message, those the hub's head has not reached yet
// included. t.mu is held.
func (t *topic) clear() {
	for t.log.len() > 0 {
		t.evicted = max(t.evicted, t.log.at(0).Seq)
		t.log.pop()
	}
	t.bytes, t.evicted = 0, max(t.evicted, t.last.Load())
}

// clearTo evicts the messages up to seq, and marks them evicted: a topic
// with no subscriber on a filtered hub keeps only what is above the head.
// t.mu is held.
func (t *topic) clearTo(seq uint64) {
	for t.log.len() > 0 && t.log.at(0).Seq <= seq {
		m := t.log.at(0)
		t.log.pop()
		t.bytes -= len(m.Data) + messageOverhead
	}
	t.evicted = max(t.evicted, seq)
}

// lastUpTo returns the Seq of the last message up to seq in the log, 0 if
// none. t.mu is held, for reading at least.
func (t *topic) lastUpTo(seq uint64) uint64 {
	i := sort.Search(t.log.len(), func(i int) bool { return t.log.at(i).Seq > seq })
	if i == 0 {
		return 0
	}
	return t.log.at(i - 1).Seq
}

// collect appends to out the messages with after < Seq <= upTo, oldest
// first. t.mu is held, for reading at least.
//
// It stops once it has collected more than budget bytes (data and
// overhead), and then returns the Seq of the last message it took as stop:
// the messages of other topics after it must wait for the next Take too,
// to keep the order.
func (t *topic) collect(out []*Message, after, upTo uint64, budget int) (_ []*Message, stop uint64) {
	n := t.log.len()
	i := sort.Search(n, func(i int) bool { return t.log.at(i).Seq > after })
	size := 0
	for ; i < n; i++ {
		m := t.log.at(i)
		if m.Seq > upTo {
			break
		}
		if size > budget {
			stop = out[len(out)-1].Seq
			break
		}
		out = append(out, m)
		size += len(m.Data) + messageOverhead
	}
	return out, stop
}

// wait puts s on the waiting list unless a message after after has arrived
// already, or a skip made a hole after it that f has not taken; it reports
// whether s is waiting. f is s's follow of t; s.mu is held. Publish stores
// last, and a skip skipped, before it hands the list out, so a message or
// a hole either is seen here or finds s on the list.
func (t *topic) wait(s *Subscriber, f *follow, after uint64) bool {
	t.waitMu.Lock()
	defer t.waitMu.Unlock()
	if t.last.Load() > after || t.skipped.Load() > max(after, f.named) {
		return false
	}
	if !f.listed || f.gen != t.gen {
		t.waiting = append(t.waiting, s)
		f.listed, f.gen = true, t.gen
	}
	return true
}

// unwait takes s off the waiting list, if it is still the list of
// generation gen, when s stops following t. The lists are not kept in any
// order, so the last entry takes its place.
func (t *topic) unwait(s *Subscriber, gen uint64) {
	t.waitMu.Lock()
	defer t.waitMu.Unlock()
	if gen != t.gen {
		return
	}
	for i := len(t.waiting) - 1; i >= 0; i-- {
		if t.waiting[i] == s {
			last := len(t.waiting) - 1
			t.waiting[i] = t.waiting[last]
			t.waiting[last] = nil
			t.waiting = t.waiting[:last]
			return
		}
	}
}

// forget drops the waiting list when nobody follows t any more, and
// compacts it when it is mostly subscribers that ended. (One that only
// left t was taken off by unwait.)
func (t *topic) forget(subs int) {
	t.waitMu.Lock()
	defer t.waitMu.Unlock()
	switch {
	case subs == 0:
		t.waiting, t.spare = nil, nil
		t.gen++
	case len(t.waiting) > 2*subs+64:
		kept := t.waiting[:0]
		for _, s := range t.waiting {
			if !s.ended.Load() {
				kept = append(kept, s)
			}
		}
		clear(t.waiting[len(kept):])
		t.waiting = kept
	}
}

// ring is a FIFO of messages that grows on demand.
type ring struct {
	buf   []*Message
	start int
	n     int
}

func (r *ring) len() int { return r.n }

func (r *ring) at(i int) *Message { return r.buf[(r.start+i)%len(r.buf)] }

// insert adds m after the messages of lower Seq, growing the ring when it
// is full. It is nearly always the last.
func (r *ring) insert(m *Message) {
	if r.n == len(r.buf) {
		nb := make([]*Message, max(2*len(r.buf), 8))
		for i := range r.n {
			nb[i] = r.at(i)
		}
		r.buf, r.start = nb, 0
	}
	i := r.n
	for ; i > 0 && r.at(i-1).Seq > m.Seq; i-- {
		r.buf[(r.start+i)%len(r.buf)] = r.at(i - 1)
	}
	r.buf[(r.start+i)%len(r.buf)] = m
	r.n++
}

// pop removes the oldest message, and shrinks the ring when it is mostly
// empty so that a quiet topic does not keep the storage of a past burst.
func (r *ring) pop() {
	r.buf[r.start] = nil
	r.start = (r.start + 1) % len(r.buf)
	r.n--
	if len(r.buf) > 64 && r.n < len(r.buf)/4 {
		nb := make([]*Message, len(r.buf)/2)
		for i := range r.n {
			nb[i] = r.at(i)
		}
		r.buf, r.start = nb, 0
	}
}

// all returns the messages oldest first.
func (r *ring) all() []*Message {
	out := make([]*Message, r.n)
	for i := range r.n {
		out[i] = r.at(i)
	}
	return out
}
