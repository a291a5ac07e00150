package hub

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// A Subscriber is a position in the logs of the topics it follows. Its
// owner runs a writer that calls Take until it returns nothing, writes
// what it got, and is woken again through the function given to Notify.
type Subscriber struct {
	hub    *Hub
	epoch  string
	notify atomic.Pointer[func()] // set once by Notify, before the first Take; read by wake from any goroutine
	ended  atomic.Bool

	mu       sync.Mutex
	follows  []follow        // sorted by topic name
	cursor   uint64          // every message up to it has been taken or skipped, but in follows behind it
	behind   int             // follows joined from before cursor (JoinFrom) that have not caught up
	replayTo uint64          // messages up to it are a resume's replay
	gap      *Gap            // a resume's gap, for the first Take
	src      *replay         // what s takes from the Source before the logs
	ctx      context.Context // the Subscribe's, for the Source
	held     int             // bytes of the last Take from the Source, in the hub's replay budget
	fromNow  bool            // subscribed without a resume ID
	ahead    *aheadWait      // a resume ahead of the hub, waiting for it to catch up
	err      error
}

// A follow is a subscriber's hold on one topic.
type follow struct {
	t    *topic
	from uint64 // messages after it are for the subscriber (Join's start)
	// behind says from is before the subscriber's cursor: the topic was
	// joined from a resume point, and its messages after from are taken,
	// before newer ones, until it catches up with the cursor.
	behind bool
	listed bool // on t's waiting list of generation gen
	gen    uint64
}

// after returns the Seq after which the follow's next message is, for a
// subscriber at cursor.
func (f *follow) after(cursor uint64) uint64 {
	if f.behind {
		return f.from
	}
	return max(cursor, f.from)
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
// fell HistoryBytes behind), gap says so; the messages that follow it are
// what the logs still hold. When Take returns no message and no gap, the
// subscriber waits: its Notify function runs when a message arrives.
//
// A writer that passes back the slice it got last time allocates nothing
// once warmed up. Take must not be called by two goroutines at once.
func (s *Subscriber) Take(buf []*Message) (msgs []*Message, gap *Gap) {
	clear(buf[:cap(buf)])
	out := buf[:0]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseHeld() // the last Take's messages were written
	for s.err == nil {
		if r := s.src; r != nil {
			if msgs, gap := s.takeReplay(r, out); len(msgs) > 0 || gap != nil {
				return msgs, gap
			}
			continue
		}
		msgs, gap, wait := s.takeLogs(out)
		if len(msgs) > 0 || gap != nil || wait {
			return msgs, gap
		}
	}
	return out, nil
}

// takeReplay is Take from the Source: the next part of s's replay r,
// within the hub's replay budget. It unlocks s.mu while the Source runs.
// s.mu is held.
func (s *Subscriber) takeReplay(r *replay, out []*Message) ([]*Message, *Gap) {
	h := s.hub
	s.mu.Unlock()
	var msgs []*Message
	var gap *Gap
	done, size := true, 0
	if limit, ok := h.replayBudget.acquire(r.ctx); ok {
		msgs, gap, done, size = s.takeSource(r, out, limit)
		h.replayBudget.release(limit - size)
	}
	s.mu.Lock()
	s.held = size
	if s.err != nil {
		s.releaseHeld() // ended meanwhile: it takes no more
	}
	s.replayed(r, gap, done)
	h.delivered.Add(uint64(len(msgs)))
	h.replayed.Add(uint64(len(msgs)))
	return msgs, gap
}

// takeLogs is Take from the logs. It reports wait when s waits on its
// topics' lists, and returns nothing when Take must try again: a message
// arrived meanwhile, or s missed messages that the Source may hold. s.mu
// is held.
func (s *Subscriber) takeLogs(out []*Message) (_ []*Message, gap *Gap, wait bool) {
	h := s.hub
	upTo := h.head.Load()
	if s.ahead != nil {
		s.caughtUp(upTo)
	}
	lost, lostAfter := false, s.cursor
	// Each topic may add its share of what one Take returns, so that the
	// storage of a Take is bounded too.
	budget := maxTakeBytes / max(len(s.follows), 1)
	for i := range s.follows {
		f := &s.follows[i]
		after := f.after(s.cursor)
		f.t.mu.RLock()
		var l bool
		var stop uint64
		out, l, stop = f.t.collect(out, after, upTo, budget)
		f.t.mu.RUnlock()
		if l {
			lost, lostAfter = true, min(lostAfter, after)
		}
		if stop != 0 {
			upTo = stop // the rest of every topic waits for the next Take
		}
	}
	inReplay := lostAfter < s.cursor || s.cursor < s.replayTo
	if lost && s.gap == nil && s.behind == 0 && h.source != nil {
		clear(out)
		s.src = s.newReplay(lostAfter, inReplay)
		return out[:0], nil, false
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
	gap, s.gap = s.gap, nil
	if lost && gap == nil {
		reason, count := GapTooSlow, &h.lagged
		if inReplay {
			reason, count = GapExceeded, &h.gaps
		}
		gap = &Gap{LastID: FormatID(s.epoch, lostAfter), Reason: reason}
		count.Add(1)
	}
	before := s.cursor
	pos := upTo
	if n := len(out); n < collected {
		pos = out[n-1].Seq // cut short: the rest next time
	}
	// out is every message up to pos after each follow's position, so each
	// moves to pos at least.
	s.cursor = max(s.cursor, pos)
	if s.behind > 0 {
		s.catchUp(pos)
	}
	if gap != nil {
		resume := s.cursor
		if len(out) > 0 {
			resume = out[0].Seq - 1
		}
		gap.Resume = FormatID(s.epoch, resume)
	}
	if len(out) > 0 || gap != nil {
		h.delivered.Add(uint64(len(out)))
		// Replayed: what came before the position (a JoinFrom's catching
		// up) or before the subscription (a resume).
		replayed := before
		if before < s.replayTo {
			replayed = s.replayTo
		}
		n := 0
		for n < len(out) && out[n].Seq <= replayed {
			n++
		}
		h.replayed.Add(uint64(n))
		return out, gap, false
	}
	return out, nil, s.wait()
}

// releaseHeld gives back to the hub's replay budget the bytes of the last
// Take from the Source. s.mu is held.
func (s *Subscriber) releaseHeld() {
	if s.held > 0 {
		s.hub.replayBudget.release(s.held)
		s.held = 0
	}
}

// evicted returns the highest Seq evicted from the logs of s's topics.
// s.mu is held.
func (s *Subscriber) evicted() uint64 {
	var up uint64
	for _, f := range s.follows {
		f.t.mu.RLock()
		up = max(up, f.t.evicted)
		f.t.mu.RUnlock()
	}
	return up
}

// startAfter moves a subscriber that subscribed from now on, before the
// hub applied anything, after seq: see Hub.skip. h.mu is held.
func (s *Subscriber) startAfter(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fromNow || s.cursor != 0 {
		return
	}
	s.cursor = seq // and so every follow that is not behind
}

// catchUp moves the follows that are behind to pos, and ends their being
// behind once they reach the cursor. s.mu is held.
func (s *Subscriber) catchUp(pos uint64) {
	for i := range s.follows {
		f := &s.follows[i]
		if !f.behind {
			continue
		}
		f.from = max(f.from, pos)
		if f.from >= s.cursor {
			f.behind = false
			s.behind--
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
	for i := range s.follows {
		f := &s.follows[i]
		if !f.t.wait(s, f, f.after(s.cursor)) {
			return false
		}
	}
	return true
}

// Replaying reports whether the subscriber resumed, or joined topics with
// JoinFrom, and Take has not yet returned everything it replays, or the
// gap that comes first.
func (s *Subscriber) Replaying() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil && (s.gap != nil || s.src != nil || s.cursor < s.replayTo || s.behind > 0)
}

// Topics returns the topics s follows, sorted.
func (s *Subscriber) Topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, len(s.follows))
	for i, f := range s.follows {
		names[i] = f.t.name
	}
	return names
}

// Join adds topics to s, from the next message published: nothing is
// replayed. Topics s follows already are left as they are.
func (s *Subscriber) Join(topics ...string) error {
	return s.join("", topics)
}

// JoinFrom adds topics to s from the resume point lastID, as Subscribe
// resumes: Take returns every message of those topics after lastID that
// the logs hold, oldest first and before any newer message, then goes on
// with all of s's topics. When the logs cannot cover them (lastID is of
// another epoch, malformed, ahead of every message, or messages after it
// left the logs), Take reports a Gap first, unless a gap is waiting to be
// taken already, which then stands for both. With an empty lastID it is
// Join. Topics s follows already are left as they are.
func (s *Subscriber) JoinFrom(lastID string, topics ...string) error {
	return s.join(lastID, topics)
}

func (s *Subscriber) join(lastID string, topics []string) error {
	h := s.hub
	names, err := h.checkTopics(topics)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if err := s.Err(); err != nil {
		h.mu.Unlock()
		return err
	}
	have := s.Topics()
	var add []string
	for _, name := range names {
		if _, found := slices.BinarySearch(have, name); !found {
			add = append(add, name)
		}
	}
	if len(have)+len(add) > h.maxTopics {
		h.mu.Unlock()
		return &TopicError{Err: ErrTooManyTopics, Reason: fmt.Sprintf("%d topics, at most %d", len(have)+len(add), h.maxTopics)}
	}
	// From the next message, or from s's position when it resumed ahead
	// of the hub and waits for it: what comes before that position is
	// what the client has of the stream already, as on a hub caught up.
	s.mu.Lock()
	next := max(h.seq, s.cursor)
	s.mu.Unlock()
	from := make([]uint64, len(add))
	for i := range from {
		from[i] = next
	}
	if lastID != "" && len(add) > 0 {
		floors := make([]uint64, len(add)) // set by HistorySize
		after, gap := h.resumePoint(add, lastID, floors)
		for i := range from {
			from[i] = max(after, floors[i])
		}
		if gap != nil {
			h.gaps.Add(1)
			s.mu.Lock()
			if s.gap == nil {
				s.gap = gap
			}
			s.mu.Unlock()
		}
	}
	for i, name := range add {
		h.follow(s, name, from[i])
	}
	h.mu.Unlock()
	if len(add) > 0 {
		s.wake() // so that its writer waits on the new topics too
	}
	return nil
}

// Leave removes topics from s. Topics it does not follow are ignored.
func (s *Subscriber) Leave(topics ...string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range topics {
		s.mu.Lock()
		i := slices.IndexFunc(s.follows, func(f follow) bool { return f.t.name == name })
		var t *topic
		if i >= 0 {
			f := s.follows[i]
			t = f.t
			if f.behind {
				s.behind--
			}
			if f.listed {
				t.unwait(s, f.gen) // or a Join after it would list s again
			}
			s.follows = slices.Delete(s.follows, i, i+1)
		}
		s.mu.Unlock()
		if t != nil {
			h.unfollow(t)
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
