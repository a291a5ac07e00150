package hub

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
)

// # The sequence and the head
//
// Publish takes nothing hub-wide but its sequence number: it reserves the
// next number (Hub.next), builds the message with no lock held, appends it
// under its topic's lock, then completes the number. Publishers on
// different topics run side by side, so messages are appended out of
// order: 11 may be in its log while 10 is still being encoded.
//
// Subscribers read up to the head (Hub.head): the highest number such that
// every number up to it was appended, or given up (a message refused, an
// encode that panicked). So a subscriber that merges several topics in Seq
// order never takes 11 and then finds 10 appended behind it. A completed
// number is written to its slot of Hub.pending; whoever completes a number
// then moves the head over every completed number that follows it, and
// announces what it moved over to the topics' waiting lists, in that order
// (readable first, then announced; see topic.wait). A publisher never
// waits for another, except when pendingSlots numbers are reserved ahead
// of the head. What must see every message whose Publish returned (a
// Shutdown that writes what was published, Save) waits for the head to
// cover the numbers reserved when it began (AwaitPublished).
//
// On a hub that is not filtered (a filtered one: see filtered.go),
// PublishAt and SkipTo (an applier's, one at a time) take the numbers up to
// theirs, wait for the head to reach the number before them, and then own
// the head: nobody else moves it until they store it (setHead), since the
// slot of the next number is not completed. They run under Hub.mu, as a
// skip marks every topic.

// pendingSlots is how many sequence numbers Publish may reserve ahead of the
// head: one that would reserve further waits for the head to move on.
const pendingSlots = 256

// A pendingSlot holds a completed sequence number until the head moves
// over it. It fills a cache line: neighbours are other publishers'.
type pendingSlot struct {
	seq atomic.Uint64         // the number completed in this slot
	t   atomic.Pointer[topic] // the topic it was appended to; nil if none
	_   [48]byte
}

// reserve takes the next sequence number for Publish.
func (h *Hub) reserve() (uint64, error) {
	for {
		last := h.next.Load()
		if last == math.MaxUint64 {
			return 0, ErrNoSequence
		}
		if h.next.CompareAndSwap(last, last+1) {
			seq := last + 1
			if seq > pendingSlots {
				h.awaitHead(seq - pendingSlots) // its slot is free
			}
			return seq, nil
		}
	}
}

// reserveTo takes every sequence number up to seq (0: the next one) for
// PublishAt or SkipTo, and returns it and the last one reserved before. A
// seq not above that one is stale.
func (h *Hub) reserveTo(seq uint64) (prev, to uint64, err error) {
	for {
		prev = h.next.Load()
		to = seq
		switch {
		case seq == 0 && prev == math.MaxUint64:
			return 0, 0, ErrNoSequence
		case seq == 0:
			to = prev + 1
		case seq <= prev:
			return 0, 0, fmt.Errorf("%w: %d, last applied %d", ErrStale, seq, prev)
		}
		if h.next.CompareAndSwap(prev, to) {
			return prev, to, nil
		}
	}
}

// release gives back seq, which reserve took for a message that was
// refused: it is taken again by the next Publish, unless a later number was
// reserved meanwhile; then it is given up (a number no message has).
func (h *Hub) release(seq uint64) {
	if !h.next.CompareAndSwap(seq, seq-1) {
		h.complete(seq, nil)
		return
	}
	h.unstall() // for settle, which waits for next
}

// complete records that seq was appended to t's log (nil: to none) and
// moves the head as far as it can.
func (h *Hub) complete(seq uint64, t *topic) {
	p := &h.pending[seq%pendingSlots]
	p.t.Store(t)
	p.seq.Store(seq)
	h.advance()
}

// advance moves the head over the completed numbers that follow it, and
// announces them to their topics. Of several completers that race, each
// either moves the head over its own number or finds the number after the
// head not completed, whose completer then moves it.
func (h *Hub) advance() {
	for {
		from := h.head.Load()
		var ts [16]*topic // the topics of from+1, from+2...
		n := 0
		for n < len(ts) && from+uint64(n) < math.MaxUint64 {
			seq := from + uint64(n) + 1
			p := &h.pending[seq%pendingSlots]
			if p.seq.Load() != seq {
				break
			}
			ts[n] = p.t.Load() // read before the head moves: the slot is then free
			n++
		}
		if n == 0 {
			return
		}
		if !h.head.CompareAndSwap(from, from+uint64(n)) {
			continue
		}
		h.unstall()
		for i, t := range ts[:n] {
			if t != nil && (i+1 == n || ts[i+1] != t) { // the last of a topic's run
				t.wake(t.announce(from + uint64(i) + 1))
			}
		}
	}
}

// setHead moves the head to seq, for PublishAt and SkipTo, which own it:
// the number after it is theirs and not completed. They call advance once
// they have released Hub.mu, for the numbers completed meanwhile.
func (h *Hub) setHead(seq uint64) {
	h.head.Store(seq)
	h.unstall()
}

// awaitHead waits for the head to reach seq.
func (h *Hub) awaitHead(seq uint64) {
	if h.head.Load() >= seq {
		return
	}
	h.stallMu.Lock()
	h.stalled.Add(1)
	for h.head.Load() < seq {
		h.stall.Wait()
	}
	h.stalled.Add(-1)
	h.stallMu.Unlock()
}

// AwaitPublished waits until every message whose Publish (or PublishAt)
// began before the call is readable (or its number was given back), or ctx
// is done, and returns ctx's error then.
func (h *Hub) AwaitPublished(ctx context.Context) error {
	seq := h.next.Load()
	if h.head.Load() >= seq {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		h.stallMu.Lock()
		h.stall.Broadcast()
		h.stallMu.Unlock()
	})
	defer stop()
	h.stallMu.Lock()
	h.stalled.Add(1)
	for h.head.Load() < min(seq, h.next.Load()) && ctx.Err() == nil {
		h.stall.Wait()
	}
	h.stalled.Add(-1)
	h.stallMu.Unlock()
	if h.head.Load() >= min(seq, h.next.Load()) {
		return nil
	}
	return ctx.Err()
}

// settle waits until the publishes under way returned (Close, once
// publishers see Hub.closed after they reserve).
func (h *Hub) settle() {
	h.AwaitPublished(context.Background())
}

// unstall wakes the callers of awaitHead and AwaitPublished, once the head
// moved or a number was given back.
func (h *Hub) unstall() {
	if h.stalled.Load() > 0 {
		h.stallMu.Lock()
		h.stall.Broadcast()
		h.stallMu.Unlock()
	}
}
