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
// about maxTakeBytes each: after is then the Seq of the last message
// yielded.
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
// Source.
const minReplayChunk = 64 << 10

// A replayBudget bounds the bytes that replays from the Source hold.
type replayBudget struct {
	mu   sync.Mutex
	free int
	room chan struct{} // closed when bytes are given back, if a replay waits
}

// acquire reserves room for one call of the Source, at most maxTakeBytes,
// waiting while ctx lasts for minReplayChunk to be free.
func (b *replayBudget) acquire(ctx context.Context) (int, bool) {
	for {
		b.mu.Lock()
		if b.free >= minReplayChunk {
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

// A replay is what a subscriber takes from the Source before its logs: the
// messages of topics in (after, upTo]. It is used by the subscriber's Take
// only.
type replay struct {
	ctx    context.Context
	cancel context.CancelFunc
	topics []string
	after  uint64
	upTo   uint64
	reason string // of a gap, when the Source no longer holds them
	resume string // the resume ID, for a gap in the first call; then ""
}

// sourceReplay returns the replay that a subscriber resuming from after in
// names takes from the Source, or nil when the logs cover it. floors are
// set by resumePoint. h.mu is held, and the hub has a Source.
func (h *Hub) sourceReplay(ctx context.Context, names []string, lastID string, after uint64, floors []uint64) *replay {
	var upTo uint64
	for i, name := range names {
		t := h.topics[name]
		if t == nil {
			upTo = max(upTo, h.forgotten) // what it held, the hub forgot
			continue
		}
		t.mu.RLock()
		upTo = max(upTo, t.evicted, floors[i])
		t.mu.RUnlock()
	}
	if h.limits.noHistory {
		upTo = h.seq // the logs serve live subscribers only
	}
	upTo = min(upTo, h.seq)
	if upTo <= after {
		return nil
	}
	r := newReplay(ctx, names, after, upTo, GapExceeded)
	r.resume = reportedID(lastID)
	return r
}

// newReplay returns a replay from the Source, bound to ctx.
func newReplay(ctx context.Context, topics []string, after, upTo uint64, reason string) *replay {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &replay{ctx: ctx, cancel: cancel, topics: topics, after: after, upTo: upTo, reason: reason}
}

// newReplay returns the replay of what s missed after its position
// lostAfter: the logs evicted it before s took it. s.mu is held.
func (s *Subscriber) newReplay(lostAfter uint64, inReplay bool) *replay {
	reason := GapTooSlow
	if inReplay {
		reason = GapExceeded
	}
	names := make([]string, len(s.follows))
	for i, f := range s.follows {
		names[i] = f.t.name
	}
	r := newReplay(s.ctx, names, lostAfter, s.evicted(), reason)
	s.cursor = max(s.cursor, r.upTo)
	return r
}

// replayed ends s's replay r when done, or extends it when the logs
// evicted more while the Source ran, so that a slow Source makes no gap.
// s.mu is held.
func (s *Subscriber) replayed(r *replay, gap *Gap, done bool) {
	if done && (gap == nil || gap.Reason != GapUnavailable) && s.err == nil {
		if up := s.evicted(); up > r.upTo {
			r.after, r.upTo, s.cursor = r.upTo, up, max(s.cursor, up)
			return
		}
	}
	if done {
		s.src = nil
		r.cancel()
	}
}

// takeSource takes the next part of s's replay from the Source, holding no
// lock. It returns the messages and the gap to report before them; done
// says the replay is over, so that the logs come next.
func (s *Subscriber) takeSource(r *replay, out []*Message, limit int) (_ []*Message, gap *Gap, done bool, size int) {
	h := s.hub
	from, last := r.after, r.after
	var bad error
	stopped := false // yield returned false: a Source that goes on is ignored
	err := h.source(r.ctx, r.topics, r.after, r.upTo, func(m *Message) bool {
		switch {
		case stopped:
			return false
		case m != nil && m.Seq > r.upTo:
			stopped = true
			return false // the logs hold it: the Source is done
		case m == nil || m.Seq <= last:
			bad = fmt.Errorf("message out of order (after %d)", last)
		case !slices.Contains(r.topics, m.Topic):
			bad = fmt.Errorf("message of topic %q, not asked for", m.Topic)
		}
		if bad != nil {
			stopped = true
			return false
		}
		out = append(out, m)
		last = m.Seq
		size += len(m.Data) + messageOverhead
		stopped = size >= limit
		return !stopped
	})
	if bad != nil {
		err = fmt.Errorf("hub: source: %w", bad)
	}
	resume := r.resume
	r.resume = ""
	switch {
	case err == nil && size < limit:
		return out, nil, true, size
	case err == nil:
		r.after = last
		return out, nil, false, size
	case errors.Is(err, ErrHistoryGone):
		gap = &Gap{Reason: r.reason}
		r.after = last
		done = size < limit
		if done {
			last = r.upTo // what follows the gap, when nothing of the range does
		}
	case r.ctx.Err() != nil:
		clear(out)
		return out[:0], nil, true, 0 // the subscriber ended
	default:
		clear(out)
		out, gap, done, size = out[:0], &Gap{Reason: GapUnavailable, Err: err}, true, 0
		last = r.upTo
	}
	gap.LastID = FormatID(s.epoch, from)
	if resume != "" {
		gap.LastID = resume
	}
	if len(out) > 0 {
		gap.Resume = FormatID(s.epoch, out[0].Seq-1)
	} else {
		gap.Resume = FormatID(s.epoch, last)
	}
	if gap.Reason == GapTooSlow {
		h.lagged.Add(1)
	} else {
		h.gaps.Add(1)
	}
	return out, gap, done, size
}

// An aheadWait is a resume from an ID of the hub's epoch that the hub has
// not applied yet: its subscriber starts after that ID, so that it gets
// what follows once the hub catches up, and nothing the client has
// already; past the deadline, it gets a gap and goes on from the hub's
// position.
type aheadWait struct {
	lastID   string
	deadline time.Time
	timer    *time.Timer // wakes the writer at the deadline
}

// awaitCatchUp makes s, which resumes from lastID ahead of the hub, wait
// for the hub to apply it, at most wait. h.mu is held.
func (s *Subscriber) awaitCatchUp(lastID string, wait time.Duration) {
	_, after, _ := ParseID(lastID)
	s.cursor, s.gap = after, nil
	s.ahead = &aheadWait{lastID: reportedID(lastID), deadline: time.Now().Add(wait)}
	s.ahead.timer = time.AfterFunc(wait, s.wake)
}

// caughtUp ends s's wait for the hub to catch up with its resume ID once
// the hub did. Past the deadline, it sets the gap Take reports and moves s
// to the hub's position. s.mu is held.
func (s *Subscriber) caughtUp(head uint64) {
	a := s.ahead
	switch {
	case head >= s.cursor:
	case time.Now().Before(a.deadline):
		return
	default:
		s.gap = &Gap{LastID: a.lastID, Reason: GapFuture}
		s.hub.gaps.Add(1)
		s.cursor = head
		for i := range s.follows {
			s.follows[i].from = min(s.follows[i].from, head)
		}
	}
	a.timer.Stop()
	s.ahead = nil
}
