// Package streamtest is an ordered stream of messages held in memory, as a
// NATS JetStream stream holds them, for the tests of several nodes that
// apply one stream: each message has a sequence number, a topic and a
// payload, and the stream may drop its oldest messages.
package streamtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrGone is returned (wrapped) by Replay when the stream dropped messages
// right after the point asked for; the caller wraps its own package's
// ErrHistoryGone around it.
var ErrGone = errors.New("streamtest: dropped")

// A Message is one message of the stream.
type Message struct {
	Seq   uint64
	Topic string
	Data  []byte
}

// A Stream is safe for concurrent use. Its zero value is empty.
type Stream struct {
	mu    sync.Mutex
	msgs  []Message
	first uint64 // Seq of the first message held, or of the next one
	last  uint64
	since uint64 // DropBefore dropped the messages before it

	// Fail, when set, is returned by Replay instead of any message.
	Fail error
}

// Add appends a message and returns its sequence number.
func (s *Stream) Add(topic string, data []byte) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(s.last+1, topic, data)
	return s.last
}

// AddAt appends a message at seq, which must be above the last one: the
// numbers between are of messages the stream does not hold for these
// tests (another consumer's, say).
func (s *Stream) AddAt(seq uint64, topic string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.last {
		panic(fmt.Sprintf("streamtest: AddAt(%d) after %d", seq, s.last))
	}
	s.add(seq, topic, data)
}

// Insert adds a message at seq, in order, for a stream that several
// publishers write at once, each number once: seq may be below the last
// one. A seq that DropBefore dropped is dropped at once.
func (s *Stream) Insert(seq uint64, topic string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case seq < s.since:
		return
	case seq > s.last:
		s.add(seq, topic, data)
		return
	}
	s.first = min(s.first, seq)
	i, found := slices.BinarySearchFunc(s.msgs, seq, func(m Message, seq uint64) int { return cmp.Compare(m.Seq, seq) })
	if found {
		panic(fmt.Sprintf("streamtest: Insert(%d) twice", seq))
	}
	s.msgs = slices.Insert(s.msgs, i, Message{Seq: seq, Topic: topic, Data: slices.Clone(data)})
}

// add appends a message at seq. s.mu is held.
func (s *Stream) add(seq uint64, topic string, data []byte) {
	s.last = seq
	if len(s.msgs) == 0 {
		s.first = seq
	}
	s.msgs = append(s.msgs, Message{Seq: seq, Topic: topic, Data: slices.Clone(data)})
}

// DropBefore drops the messages before seq.
func (s *Stream) DropBefore(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.msgs) && s.msgs[i].Seq < seq {
		i++
	}
	s.msgs = slices.Delete(s.msgs, 0, i)
	s.first = max(s.first, seq)
	s.since = max(s.since, seq)
}

// Last returns the last message held, and false when the stream holds
// none.
func (s *Stream) Last() (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		return Message{}, false
	}
	return s.msgs[len(s.msgs)-1], true
}

// From returns the messages from seq on.
func (s *Stream) From(seq uint64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.msgs) && s.msgs[i].Seq < seq {
		i++
	}
	return slices.Clone(s.msgs[i:])
}

// Replay calls yield with each message of topics in (after, upTo], oldest
// first, until it returns false, then returns an error wrapping ErrGone if
// the stream dropped messages after after.
func (s *Stream) Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(Message) bool) error {
	s.mu.Lock()
	msgs, first, fail := slices.Clone(s.msgs), s.first, s.Fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	for _, m := range msgs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if m.Seq > after && m.Seq <= upTo && slices.Contains(topics, m.Topic) && !yield(m) {
			break
		}
	}
	if first > after+1 {
		return fmt.Errorf("%w: the stream starts at %d", ErrGone, first)
	}
	return nil
}
