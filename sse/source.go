package sse

import (
	"context"
	"fmt"

	"github.com/realtime-go/realtime/internal/hub"
)

// Several Brokers (and ws Hubs) can serve one set of topics as one: each
// applies a shared, ordered stream of events (a NATS JetStream stream, a
// Kafka partition, a database's log) with PublishAt and the stream's
// sequence numbers, so that every node gives an event the same ID, and a
// HistorySource lets any node serve a resume its own history cannot cover.
// A client that moves to another node resumes there with its
// Last-Event-ID, exactly where it was. All nodes share BrokerOptions.Epoch.

var (
	// ErrStale is returned (wrapped) by PublishAt and SkipTo for a
	// sequence number not above the last one applied: the event was
	// applied already, so a redelivered event is harmless. It is the same
	// error as ws.ErrStale.
	ErrStale = hub.ErrStale

	// ErrHistoryGone is returned (wrapped) by a HistorySource that no
	// longer holds events it was asked for. It is the same error as
	// ws.ErrHistoryGone.
	ErrHistoryGone = hub.ErrHistoryGone
)

// A Record is an event as a HistorySource gives it back.
type Record struct {
	// Seq is the event's sequence number, as given to PublishAt: its ID is
	// "<epoch>-<Seq>".
	Seq uint64
	// Topic is the topic it was published to.
	Topic string
	// Event is the event. Its ID is ignored: the Broker sets it from Seq.
	Event Event
}

// A HistorySource holds events that a Broker's own history no longer holds,
// or never held (a node that started after them, or fell behind its stream
// and skipped some): typically the shared stream that the nodes apply.
type HistorySource interface {
	// Replay calls yield, oldest first, with each event of topics whose
	// Seq is in (after, upTo], and stops when yield returns false. It
	// returns an error wrapping ErrHistoryGone when it no longer holds
	// the events right after after (it may yield what it still holds,
	// before or after it finds out): the client gets a GapEvent. Any other
	// error, or a record out of order or of another topic, is logged and
	// ends the replay with a GapEvent of reason "history unavailable". ctx
	// ends when the client goes away.
	//
	// The Broker calls Replay from a stream's writer, holding no lock,
	// before any newer event of that stream, in calls of about 1 MiB:
	// yield returns false past it, and the next call starts after the
	// last event yielded. It may be called for several streams at once.
	// What the replays of all streams took from it and have not written
	// yet is bounded to 32 MiB; a replay waits for room, so that clients
	// that resume at once and do not read cannot make the server hold more.
	Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(Record) bool) error
}

// PublishAt is Publish with the sequence number seq assigned outside the
// Broker, by the stream that several nodes apply, so that every node gives
// the event the same ID, "<epoch>-<seq>". A seq not above the last one
// applied returns an error wrapping ErrStale and publishes nothing. A seq
// more than one above it means the events between were not applied here:
// a resume from before them is served by BrokerOptions.History or is a
// gap, and so is the next write of a stream connected before them (unless
// the Broker had applied nothing yet). Publish and PublishAt may be mixed:
// Publish takes the number after the last one applied.
//
// On a Filtered Broker, PublishAt may run side by side for different
// topics, in order within each, and its events wait for SkipTo; Publish is
// refused. See the Filtered option.
func (b *Broker) PublishAt(seq uint64, topic string, e Event) (id string, err error) {
	if seq == 0 {
		return "", fmt.Errorf("sse: %w: 0", ErrStale) // publish(0) is Publish
	}
	return b.publish(seq, topic, e)
}

// SkipTo records that the stream the Broker applies is at seq with nothing
// more to apply up to it: what it did not apply up to seq is served by the
// HistorySource, or is a gap. A node that starts on a stream whose events
// were all deleted (by its limits, say) calls it with the stream's last
// sequence number, so that a client resuming from that ID misses nothing
// and waits for nothing. A seq not above the last one applied returns an
// error wrapping ErrStale.
//
// On a Filtered Broker, SkipTo is the node's watermark: every event up
// to seq that the Broker is to apply was applied. It sends them, in order,
// and marks no hole (the numbers not applied are other topics').
func (b *Broker) SkipTo(seq uint64) error {
	if err := b.hub.SkipTo(seq); err != nil {
		return b.hubError(err)
	}
	return nil
}

// source adapts src to the hub, encoding each record it yields as
// Publish encodes an event.
func (b *Broker) source(src HistorySource) hub.Source {
	return hub.SourceAdapter[Record]{
		Src:   src,
		Epoch: func() string { return b.hub.Epoch() },
		Encode: func(r Record, epoch string) (*hub.Message, error) {
			e := r.Event
			e.ID = hub.FormatID(epoch, r.Seq)
			if err := e.validate(); err != nil {
				return nil, fmt.Errorf("event %s of topic %q: %w", e.ID, r.Topic, err)
			}
			data := appendEvent(make([]byte, 0, encodedLen(&e)), &e)
			return &hub.Message{Seq: r.Seq, ID: e.ID, Topic: r.Topic, Data: data}, nil
		},
		Log:    b.log,
		Prefix: "sse",
		Gets:   "the resuming stream gets a gap event",
	}.Source()
}
