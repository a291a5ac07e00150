package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors of the extension points for several nodes. The sse and ws
// packages export them as they are, so that one adapter serves both.
var (
	// ErrStale means PublishAt was given a sequence number not above the
	// last one applied: the message was applied already (a redelivery).
	ErrStale = errors.New("stale sequence number")
	// ErrHistoryGone is wrapped by a Source that no longer holds messages
	// it was asked for: the resume is then a gap.
	ErrHistoryGone = errors.New("history gone")
)

// A Source gives a hub the messages its own logs cannot cover: those its
// logs evicted, or never held (a node that started late, or skipped
// sequence numbers with PublishAt). It calls yield, oldest first, with each
// message of topics whose Seq is in (after, upTo], each encoded with its ID,
// and stops when yield returns false. It returns an error wrapping
// ErrHistoryGone when messages right after after are no longer held (it
// may yield what it still holds, before or after it knows); any other error
// ends the replay with a gap of reason GapUnavailable. ctx ends when the
// subscriber does.
//
// The hub calls it from a subscriber's Take, holding no lock, in calls of
// about maxTakeBytes each, for the topics the subscriber holds then, from
// the position of the one furthest behind (the hub drops what another
// topic had already). A Source that panics fails the call: the subscriber
// gets a gap of reason GapUnavailable.
type Source func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) error

// GapUnavailable is the reason of a gap when the Source failed.
const GapUnavailable = "history unavailable"

// DefaultCatchUpWait is how long, by default, a hub that applies a shared
// stream may take to reach a resume ID of its epoch ahead of the last
// message applied (see Subscribe): several nodes apply a shared stream at
// their own pace, and a client that moves to another node may be ahead of
// it.
const DefaultCatchUpWait = 3 * time.Second

// DefaultReplayBytes bounds, by default, the messages that replays from the
// Source hold at once, across all subscribers: those a writer took and has
// not written yet. A replay that finds no room waits for it, so that many
// clients resuming at once, or not reading, cannot make the hub hold more.
const DefaultReplayBytes = 32 << 20

// minReplayChunk is the least room a replay waits for before it calls the
// Source, or the whole budget when ReplayBytes is smaller.
const minReplayChunk = 64 << 10

// A replayBudget bounds the bytes that replays from the Source hold.
type replayBudget struct {
	mu    sync.Mutex
	total int
	free  int
	room  chan struct{} // closed when bytes are given back, if a replay waits
}

// acquire reserves room for one call of the Source, at most maxTakeBytes,
// waiting while ctx lasts for minReplayChunk (or the whole budget, when it
// is smaller) to be free.
func (b *replayBudget) acquire(ctx context.Context) (int, bool) {
	for {
		b.mu.Lock()
		if b.free >= min(minReplayChunk, b.total) {
			n := min(b.free, maxTakeBytes)
			b.free -= n
			b.mu.Unlock()
			return n, true
		}
		if b.room == nil {
			b.room = make(chan struct{})
		}
		room := b.room
		b.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return 0, false
		}
	}
}

// release gives n bytes back (or takes -n more, when a call went past what
// it reserved by one message).
func (b *replayBudget) release(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	if b.room != nil && n > 0 {
		close(b.room)
		b.room = nil
	}
}

// A sourcePlan is one call of the Source for a subscriber's Take: the
// messages of topics in (after, upTo], for the follows asked, each from
// its own position. It is made under the subscriber's lock and read
// without it.
type sourcePlan struct {
	ctx     context.Context
	follows []*follow
	topics  []string
	after   uint64
	upTo    uint64 // the end of the furthest hole
	reason  string // of a gap, when the Source no longer holds them
}

// add records a follow's hole up to mark, making the plan if p is nil.
func (p *sourcePlan) add(f *follow, mark uint64) *sourcePlan {
	if p == nil {
		p = &sourcePlan{after: f.pos}
	}
	p.upTo = max(p.upTo, mark)
	return p
}

// planSource completes p: it asks for every topic behind the end of the
// furthest hole, from the position of the one furthest behind, since the
// Take that applies it returns their messages in Seq order up to there.
// s.mu is held.
func (s *Subscriber) planSource(p *sourcePlan) *sourcePlan {
	p.ctx, p.after, p.reason = s.ctx, p.upTo, GapTooSlow
	for _, f := range s.follows {
		if f.pos >= p.upTo {
			continue
		}
		p.follows = append(p.follows, f)
		p.topics = append(p.topics, f.t.name)
		p.after = min(p.after, f.pos)
		if f.pos < f.replayTo {
			p.reason = GapExceeded
		}
	}
	return p
}

// A sourceResult is what one call of the Source gave.
type sourceResult struct {
	msgs     []*Message
	last     uint64 // Seq of the last message yielded, or the plan's after
	complete bool   // the call reached the plan's upTo (it was not cut by the budget)
	err      error
	limit    int // bytes reserved in the replay budget
	size     int // bytes of msgs
	ran      bool
}

// callSource calls the Source for p, with no lock held, within the
// replay budget, appending to out. A Source that panics fails the call.
func (h *Hub) callSource(p *sourcePlan, out []*Message) (r sourceResult) {
	r.msgs, r.last = out, p.after
	limit, ok := h.replayBudget.acquire(p.ctx)
	if !ok {
		return r // the subscriber ended
	}
	r.ran, r.limit = true, limit
	var bad error
	stopped := false // yield returned false: a Source that goes on is ignored
	func() {
		defer func() {
			if v := recover(); v != nil {
				r.err = fmt.Errorf("hub: source panicked: %v", v)
			}
		}()
		r.err = h.source(p.ctx, p.topics, p.after, p.upTo, func(m *Message) bool {
			switch {
			case stopped:
				return false
			case m != nil && m.Seq > p.upTo:
				stopped = true
				return false // the logs hold it: the Source is done
			case m == nil || m.Seq <= r.last:
				bad = fmt.Errorf("message out of order (after %d)", r.last)
			case !slices.Contains(p.topics, m.Topic):
				bad = fmt.Errorf("message of topic %q, not asked for", m.Topic)
			}
			if bad != nil {
				stopped = true
				return false
			}
			r.msgs = append(r.msgs, m)
			r.last = m.Seq
			r.size += len(m.Data) + messageOverhead
			stopped = r.size >= limit
			return !stopped
		})
	}()
	if bad != nil && r.err == nil {
		r.err = fmt.Errorf("hub: source: %w", bad)
	}
	r.complete = r.size < limit
	h.replayBudget.release(limit - r.size)
	return r
}

// applySource applies what the Source gave for p: the messages of the
// follows that are still those of the plan, after their positions; then
// every such follow is at the end of what the call covered. It returns
// what Take returns (nothing when the subscriber ended, or the call
// yielded nothing for it). s.mu is held.
func (s *Subscriber) applySource(p *sourcePlan, r sourceResult) ([]*Message, *Gap) {
	h := s.hub
	out := r.msgs[:0]
	if s.err != nil || !r.ran || (r.err != nil && p.ctx.Err() != nil) {
		clear(r.msgs)
		if r.ran {
			h.replayBudget.release(r.size)
		}
		return out, nil
	}
	s.held = r.size // given back by the next Take, once these are written
	end := p.upTo   // what the call covered
	if !r.complete {
		end = r.last
	}
	var gap *gapEvent
	switch {
	case r.err == nil:
	case errors.Is(r.err, ErrHistoryGone):
		// Gone right after p.after: the gap ends before what it yielded.
		hi := end
		if len(r.msgs) > 0 {
			hi = r.msgs[0].Seq - 1
		}
		gap = &gapEvent{lo: p.after, hi: hi, reason: p.reason}
	default:
		clear(r.msgs)
		r.msgs, end = r.msgs[:0], p.upTo
		h.replayBudget.release(s.held)
		s.held = 0
		gap = &gapEvent{lo: p.after, hi: p.upTo, reason: GapUnavailable, err: r.err}
	}
	replayed := 0
	for _, m := range r.msgs {
		f := s.follow(m.Topic)
		if f == nil || !slices.Contains(p.follows, f) || m.Seq <= f.pos {
			continue // left, or joined anew, since the plan; or had already
		}
		if m.Seq <= f.replayTo {
			replayed++
		}
		out = append(out, m)
	}
	clear(r.msgs[len(out):])
	for _, f := range p.follows {
		if s.follow(f.t.name) == f {
			f.pos = max(f.pos, end)
			if gap != nil {
				f.named = max(f.named, gap.hi)
			}
		}
	}
	if gap = s.unnamed(gap); gap != nil {
		gap.lastID = FormatID(s.epoch, gap.lo)
		s.addGap(gap)
	}
	if len(out) == 0 && s.gap == nil {
		s.releaseHeld() // nothing to write: Take goes on, and may call again
		return out, nil
	}
	h.delivered.Add(uint64(len(out)))
	h.replayed.Add(uint64(replayed))
	return out, s.reportGap(out, end)
}
