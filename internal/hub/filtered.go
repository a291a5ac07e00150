package hub

import (
	"fmt"
	"time"
)

// # A filtered hub
//
// A filtered hub (Options.Filtered) applies a stream filtered by topic, as
// a node of a cluster that consumes only its clients' topics does. Its
// applier may run one goroutine per topic, or per shard of topics: each
// applies its topics' messages in order with PublishAt, side by side with
// the others, and the hub orders them across topics by the applier's
// watermark, SkipTo.
//
// PublishAt appends a message to its topic's log, above the head, and
// takes Hub.mu only to make the topic: a subscriber reads up to the head,
// so the message waits there while a message of another topic with a lower
// number may still be applied. SkipTo(w), once every message up to w was
// applied, moves the head to w under Hub.mu, and announces and wakes the
// topics that were given messages (or holes) up to w: those on Hub.above.
// A topic is on Hub.above while its log holds a message, or it refused
// one (topic.refused), above the head (topic.above says so, under
// topic.mu), and is not forgotten meanwhile. A refused message becomes its
// topic's hole (topic.evicted) when the head passes it, not before: a
// reader takes an evicted mark above the head as a hole up to the head. A
// topic with no subscriber keeps what is above the head, for a subscriber
// that arrives before the head reaches it (it starts at the head); SkipTo
// drops the rest, and forgets the topic once it holds nothing.
//
// Locks (see subscriber.go): SkipTo holds Hub.mu and takes each topic.mu
// in turn; Hub.aboveMu is a leaf, taken by SkipTo under Hub.mu alone and
// by PublishAt with no lock held.

// publishFiltered is PublishAt on a filtered hub: it appends the message
// above the head, for SkipTo to make readable.
func (h *Hub) publishFiltered(seq uint64, name string, encode func(id string) []byte) (*Message, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	if head := h.head.Load(); seq <= head {
		return nil, fmt.Errorf("%w: %d, applied up to %d", ErrStale, seq, head)
	}
	now := time.Now()
	id := FormatID(h.epoch, seq)
	m := &Message{Seq: seq, ID: id, Topic: name, Time: now, Data: encode(id)}
	size := len(m.Data) + messageOverhead
	tooLarge := size > h.limits.bytes
	t := h.lockTopic(name)
	if last := max(h.head.Load(), t.applied); seq <= last {
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: %d, %s applied up to %d", ErrStale, seq, name, last)
	}
	t.applied = seq
	if tooLarge {
		t.refused = append(t.refused, seq) // its topic's hole, once the head passes it
	} else {
		t.append(m, &h.limits)
		t.published.Add(1)
	}
	listed := t.above
	t.above = true
	t.mu.Unlock()
	if !listed {
		h.aboveMu.Lock()
		h.above = append(h.above, t)
		h.aboveMu.Unlock()
	}
	if tooLarge {
		return nil, fmt.Errorf("%w: %d bytes with its overhead, HistoryBytes %d", ErrTooLarge, size, h.limits.bytes)
	}
	if h.sweepDue(now) {
		h.mu.Lock()
		h.sweep(now)
		h.mu.Unlock()
	}
	return m, nil
}

// skipFiltered is SkipTo on a filtered hub: every message up to seq was
// applied. The head moves to seq, and the topics given messages or holes
// up to it are announced; it marks no hole, since the numbers not applied
// are other topics'. A topic with no subscriber drops what the head passed.
func (h *Hub) skipFiltered(seq uint64) error {
	h.mu.Lock()
	head := h.head.Load()
	if seq <= head {
		h.mu.Unlock()
		return fmt.Errorf("%w: %d, applied up to %d", ErrStale, seq, head)
	}
	h.shared = true
	h.aboveMu.Lock()
	above := h.above
	h.above = nil
	h.aboveMu.Unlock()
	// The holes first, then the head: a writer that reads up to the new
	// head must find the holes below it, or it moves past them (see
	// Hub.skip). Then the messages are announced: readable first (they
	// are in the logs), then announced (see topic.wait).
	for _, t := range above {
		t.mu.Lock()
		for len(t.refused) > 0 && t.refused[0] <= seq {
			t.evicted = max(t.evicted, t.refused[0])
			t.refused = t.refused[1:]
		}
		t.mu.Unlock()
	}
	h.setHead(seq)
	var still []*topic
	var woken []handedOut
	for _, t := range above {
		t.mu.Lock()
		if t.dropped {
			t.above = false
			t.mu.Unlock()
			continue
		}
		last := t.lastUpTo(seq)
		hole := min(t.evicted, seq)
		if t.subs == 0 {
			t.clearTo(seq)
		}
		t.above = t.applied > seq
		above := t.above
		t.mu.Unlock()
		if above {
			still = append(still, t)
		}
		if t.subs == 0 {
			if !above {
				h.drop(t) // it holds nothing: forgotten
			}
			continue
		}
		if hole > head && hole > t.skipped.Load() {
			t.skipped.Store(hole) // a writer that goes to wait sees it
		}
		if last > head || hole > head {
			if list := t.announce(last); list != nil {
				woken = append(woken, handedOut{t, list})
			}
		}
	}
	if len(still) > 0 {
		h.aboveMu.Lock()
		h.above = append(h.above, still...)
		h.aboveMu.Unlock()
	}
	if now := time.Now(); h.sweepDue(now) {
		h.sweep(now)
	}
	h.mu.Unlock()
	for _, w := range woken {
		w.t.wake(w.list)
	}
	return nil
}
