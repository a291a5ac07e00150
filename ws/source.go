package ws

import (
	"context"
	"fmt"

	"github.com/realtime-go/realtime/internal/hub"
)

// Several Hubs (and sse Brokers) can serve one set of topics as one: each
// applies a shared, ordered stream of messages (a NATS JetStream stream, a
// Kafka partition, a database's log) with PublishAt and the stream's
// sequence numbers, so that every node gives a message the same ID, and a
// HistorySource lets any node serve a resume its own history cannot cover.
// A client that moves to another node resumes there with its lastEventId,
// exactly where it was. All nodes share HubOptions.Epoch.

var (
	// ErrStale is returned (wrapped) by PublishAt and SkipTo for a
	// sequence number not above the last one applied: the message was
	// applied already, so a redelivered message is harmless. It is the
	// same error as sse.ErrStale.
	ErrStale = hub.ErrStale

	// ErrHistoryGone is returned (wrapped) by a HistorySource that no
	// longer holds messages it was asked for. It is the same error as
	// sse.ErrHistoryGone.
	ErrHistoryGone = hub.ErrHistoryGone
)

// A Record is a message as a HistorySource gives it back.
type Record struct {
	// Seq is the message's sequence number, as given to PublishAt: its ID
	// is "<epoch>-<Seq>".
	Seq uint64
	// Topic is the topic it was published to.
	Topic string
	// Type and Data are the message, as given to PublishAt.
	Type MessageType
	Data []byte
}

// A HistorySource holds messages that a Hub's own history no longer holds,
// or never held (a node that started after them, or fell behind its stream
// and skipped some): typically the shared stream that the nodes apply.
type HistorySource interface {
	// Replay calls yield, oldest first, with each message of topics whose
	// Seq is in (after, upTo], and stops when yield returns false. It
	// returns an error wrapping ErrHistoryGone when it no longer holds the
	// messages right after after (it may yield what it still holds,
	// before or after it finds out): the client gets a gap notice. Any
	// other error, or a record out of order or of another topic, is
	// logged and ends the replay with a gap notice of reason "history
	// unavailable". ctx ends when the connection does.
	//
	// The Hub calls Replay from a connection's writer, holding no lock,
	// before any newer message of that connection, in calls of about
	// 1 MiB: yield returns false past it, and the next call starts after
	// the last message yielded. It may be called for several connections
	// at once. What the replays of all connections took from it and have
	// not written yet is bounded to 32 MiB; a replay waits for room, so
	// that clients that resume at once and do not read cannot make the
	// server hold more.
	Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(Record) bool) error
}

// PublishAt is Publish with the sequence number seq assigned outside the
// Hub, by the stream that several nodes apply, so that every node gives the
// message the same ID, "<epoch>-<seq>". A seq not above the last one
// applied returns an error wrapping ErrStale and publishes nothing. A seq
// more than one above it means the messages between were not applied here:
// a resume from before them is served by HubOptions.History or is a gap,
// and so is the next write to a connection opened before them (unless the
// Hub had applied nothing yet). Publish and PublishAt may be mixed: Publish
// takes the number after the last one applied.
//
// On a Filtered Hub, PublishAt may run side by side for different
// topics, in order within each, and its messages wait for SkipTo; Publish is
// refused. See the Filtered option.
func (h *Hub) PublishAt(seq uint64, topic string, typ MessageType, data []byte) (string, error) {
	if seq == 0 {
		return "", fmt.Errorf("ws: %w: 0", ErrStale) // publish(0) is Publish
	}
	encode, err := encoder(topic, typ, data)
	if err != nil {
		return "", err
	}
	return h.publish(seq, topic, encode)
}

// SkipTo records that the stream the Hub applies is at seq with nothing
// more to apply up to it: what it did not apply up to seq is served by the
// HistorySource, or is a gap. A node that starts on a stream whose messages
// were all deleted (by its limits, say) calls it with the stream's last
// sequence number, so that a client resuming from that ID misses nothing
// and waits for nothing. A seq not above the last one applied returns an
// error wrapping ErrStale.
//
// On a Filtered Hub, SkipTo is the node's watermark: every message up
// to seq that the Hub is to apply was applied. It sends them, in order,
// and marks no hole (the numbers not applied are other topics').
func (h *Hub) SkipTo(seq uint64) error {
	if err := h.hub.SkipTo(seq); err != nil {
		return hubError(err)
	}
	return nil
}

// source adapts src to the hub, encoding each record it yields as Publish
// encodes a message.
func (h *Hub) source(src HistorySource) hub.Source {
	return hub.SourceAdapter[Record]{
		Src:   src,
		Epoch: func() string { return h.hub.Epoch() },
		Encode: func(r Record, epoch string) (*hub.Message, error) {
			encode, err := encoder(r.Topic, r.Type, r.Data)
			if err != nil {
				return nil, fmt.Errorf("message %d of topic %q: %w", r.Seq, r.Topic, err)
			}
			id := hub.FormatID(epoch, r.Seq)
			return &hub.Message{Seq: r.Seq, ID: id, Topic: r.Topic, Data: encode(id)}, nil
		},
		Log:    h.opts.Conn.Logger,
		Prefix: "ws",
		Gets:   "the resuming connection gets a gap notice",
	}.Source()
}
