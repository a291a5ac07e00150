package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Defaults of the applier, which reads the stream in order and applies
// each message to the node's Broker and Hub.
const (
	// DefaultWarmup is how many of the stream's newest messages a node
	// applies when it starts, before the live ones, so that its own
	// history serves the resumes of clients that were just connected to a
	// node that stopped. Resumes from before them are served from
	// JetStream.
	DefaultWarmup = 1000

	// DefaultPendingBytes bounds each fetch of the applier's consumer:
	// 8 MiB. It must exceed NATS's largest message (max_payload, 1 MiB by
	// default).
	DefaultPendingBytes = 8 << 20

	// DefaultPendingMessages bounds the messages a consumer of the node
	// (the applier's, a replay's) holds fetched and not yet applied. A
	// bound in bytes alone makes the NATS client allocate room for a
	// million messages (8 MB) with each consumer, which a filtered node
	// and each replay from JetStream make often.
	DefaultPendingMessages = 1024

	// DefaultConsumerInactive is how long JetStream keeps the consumer of
	// a node that vanished (killed, or cut off) before deleting it.
	DefaultConsumerInactive = time.Minute

	// DefaultApplyRetry is how long the applier waits after an error of
	// its consumer before reading again.
	DefaultApplyRetry = time.Second
)

// pullLimits bounds what a consumer's Messages holds: DefaultPendingMessages
// messages, fetched at most maxBytes at a time.
func pullLimits(maxBytes int) jetstream.PullMessagesOpt {
	return jetstream.PullMaxMessagesWithBytesLimit(DefaultPendingMessages, maxBytes)
}

// consumerDeleteTimeout bounds deleting a consumer that is no longer used:
// a consumer not deleted goes away by itself after its inactivity
// threshold.
const consumerDeleteTimeout = time.Second

// applierConsumer creates the ordered consumer that feeds the node: every
// subject of the stream, from Warmup messages before the newest one.
func (n *node) applierConsumer() (jetstream.Consumer, error) {
	info := n.stream.CachedInfo()
	warm := uint64(DefaultWarmup)
	if n.opts.Warmup > 0 {
		warm = uint64(n.opts.Warmup)
	} else if n.opts.Warmup < 0 {
		warm = 1
	}
	// From the newest message, so that the Broker and Hub know where the
	// stream is (an ID at or before it is not "ahead" of the node), or
	// from the next one when the stream holds none.
	start := info.State.LastSeq + 1
	if info.State.Msgs > 0 {
		start = max(info.State.FirstSeq, info.State.LastSeq-min(info.State.LastSeq, warm-1))
	}
	if n.opts.Filtered {
		start = info.State.LastSeq + 1 // no client follows a topic yet
	}
	n.startSeq = start
	n.applied.Store(start - 1)
	n.lastAt.Store(start - 1)
	if start > 1 {
		// Tell the Broker and the Hub where the stream is, so that a
		// client resuming from an ID up to it waits for nothing (the
		// stream may hold no message at all), and what lies before it is
		// served from JetStream.
		if err := n.broker.SkipTo(start - 1); err != nil {
			return nil, err
		}
		if err := n.hub.SkipTo(start - 1); err != nil {
			return nil, err
		}
	}
	if start > info.State.LastSeq {
		n.caughtUp.Store(true)
	}
	if n.opts.Filtered {
		return nil, nil // see applyFiltered
	}
	ctx, cancel := context.WithTimeout(n.ctx, DefaultRequestTimeout)
	defer cancel()
	cons, err := n.js.OrderedConsumer(ctx, n.opts.Stream.Name, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		InactiveThreshold: DefaultConsumerInactive,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: consumer: %w", n.opts.Stream.Name, err)
	}
	return cons, nil
}

// apply reads the stream in order until the node stops, and applies each
// message to the Broker and the Hub with its stream sequence, so that it
// has the same ID on every node.
func (n *node) apply(cons jetstream.Consumer) {
	pending := n.opts.PendingBytes
	if pending <= 0 {
		pending = DefaultPendingBytes
	}
	it, err := cons.Messages(pullLimits(pending))
	if err != nil {
		n.fail(fmt.Errorf("consume: %w", err))
		return
	}
	stop := context.AfterFunc(n.ctx, it.Stop)
	defer stop()
	defer n.deleteConsumer(cons)
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || n.ctx.Err() != nil {
				return
			}
			n.log.Warn("reading the stream", "err", err)
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(DefaultApplyRetry):
			}
			continue
		}
		if err := n.applyMsg(msg); err != nil {
			return
		}
	}
}

// applyMsg applies one message of the whole stream (a filtered node's
// workers apply theirs: see applyWorker). It returns an error only when
// the node stops.
func (n *node) applyMsg(msg jetstream.Msg) error {
	md, err := msg.Metadata()
	if err != nil {
		n.log.Warn("skipping a message without metadata", "err", err)
		return nil
	}
	r, ok := n.decodeMsg(msg, md.Sequence.Stream)
	if !ok {
		n.advance(md.Sequence.Stream)
		return nil
	}
	storeMax(&n.lastAt, r.seq)
	if err := n.publishRecord(r); err != nil {
		return err
	}
	n.advance(r.seq)
	return nil
}

// decodeMsg returns the record of msg, of stream sequence seq, or false
// for a message that cannot be delivered: every node skips it alike, and
// the history skips it too.
func (n *node) decodeMsg(msg jetstream.Msg, seq uint64) (record, bool) {
	r, err := n.subj.decode(msg, seq)
	if err != nil {
		n.log.Warn("skipping a message that cannot be delivered", "err", err)
		return record{}, false
	}
	return r, true
}

// publishRecord gives r to the Broker and the Hub. It returns an error
// only when the node stops.
func (n *node) publishRecord(r record) error {
	if n.opts.applyGate != nil {
		if err := n.opts.applyGate(n.ctx, r.seq); err != nil {
			return err
		}
	}
	n.topics.seen(r.topic, time.Now())
	_, berr := n.broker.PublishAt(r.seq, r.topic, sse.Event{Type: r.event, Data: r.data})
	_, herr := n.hub.PublishAt(r.seq, r.topic, ws.MessageText, []byte(r.data))
	for _, err := range []error{berr, herr} {
		// A stale one was applied already: a redelivery after the
		// consumer was recreated.
		if err != nil && !errors.Is(err, sse.ErrStale) && !errors.Is(err, ws.ErrStale) {
			n.log.Warn("applying a message", "seq", r.seq, "err", err)
		}
	}
	return nil
}

// advance records that the applier is past seq.
func (n *node) advance(seq uint64) {
	storeMax(&n.applied, seq)
	if seq >= n.target {
		n.caughtUp.Store(true)
	}
}

// storeMax stores v in a unless a holds more already.
func storeMax(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if old >= v || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// deleteConsumer deletes the applier's consumer once the node stops, so
// that it does not wait DefaultConsumerInactive on the server.
func (n *node) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || n.nc.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), consumerDeleteTimeout)
	defer cancel()
	n.js.DeleteConsumer(ctx, n.opts.Stream.Name, info.Name)
}
