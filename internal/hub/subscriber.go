package hub

import (
	"cmp"
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
	follows  []follow // sorted by topic name
	cursor   uint64   // every message up to it has been taken or skipped
	replayTo uint64   // messages up to it are a resume's replay
	gap      *Gap     // a resume's gap, for the first Take
	err      error
}

// A follow is a subscriber's hold on one topic.
type follow struct {
	t      *topic
	from   uint64 // messages after it are for the subscriber (Join's start)
	listed bool   // on t's waiting list of generation gen
	gen    uint64
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
	h := s.hub
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.err == nil {
		upTo := h.head.Load()
		lost := false
		for i := range s.follows {
			f := &s.follows[i]
			f.t.mu.RLock()
			var l bool
			out, l = f.t.collect(out, max(s.cursor, f.from), upTo)
			f.t.mu.RUnlock()
			lost = lost || l
		}
		if len(s.follows) > 1 {
			slices.SortFunc(out, func(a, b *Message) int { return cmp.Compare(a.Seq, b.Seq) })
		}
		out = cut(out)
		gap, s.gap = s.gap, nil
		if lost && gap == nil {
			reason, count := GapTooSlow, &h.lagged
			if s.cursor < s.replayTo { // the resume's replay was evicted
				reason, count = GapExceeded, &h.gaps
			}
			gap = &Gap{LastID: FormatID(s.epoch, s.cursor), Reason: reason}
			count.Add(1)
		}
		before := s.cursor
		if n := len(out); n > 0 && out[n-1].Seq < upTo {
			s.cursor = out[n-1].Seq // cut short: the rest next time
		} else {
			s.cursor = max(s.cursor, upTo)
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
			if before < s.replayTo {
				n := 0
				for n < len(out) && out[n].Seq <= s.replayTo {
					n++
				}
				h.replayed.Add(uint64(n))
			}
			return out, gap
		}
		if s.wait() {
			return out, nil
		}
	}
	return out, nil
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
		if !f.t.wait(s, f, max(s.cursor, f.from)) {
			return false
		}
	}
	return true
}

// Replaying reports whether the subscriber resumed and Take has not yet
// returned everything published before it subscribed, or the gap that
// comes first.
func (s *Subscriber) Replaying() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil && (s.gap != nil || s.cursor < s.replayTo)
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
// replayed.
func (s *Subscriber) Join(topics ...string) error {
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
		return fmt.Errorf("%w: at most %d", ErrTooManyTopics, h.maxTopics)
	}
	for _, name := range add {
		h.follow(s, name, h.seq)
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
