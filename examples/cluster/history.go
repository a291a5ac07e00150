package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Defaults of the history a node serves from JetStream: resumes that its
// own Broker or Hub cannot cover (a node that started late, or a client
// that was away long).
const (
	// DefaultMaxReplays bounds the replays read from JetStream at once by
	// one node, each with a consumer of its own; others wait their turn.
	DefaultMaxReplays = 32

	// DefaultReplayTimeout bounds one replay call (the Broker and Hub ask
	// for about 1 MiB at a time): past it the client gets a gap.
	DefaultReplayTimeout = 10 * time.Second

	// DefaultReplayPendingBytes bounds each fetch of a replay's consumer
	// (which holds at most DefaultPendingMessages): 4 MiB. It must exceed
	// NATS's largest message.
	DefaultReplayPendingBytes = 4 << 20

	// replayInactive is how long JetStream keeps a replay's consumer if
	// the node vanishes before deleting it.
	replayInactive = 30 * time.Second
)

// jsHistory reads the messages of some topics from the stream, for both
// the Broker (sseHistory) and the Hub (wsHistory).
type jsHistory struct {
	js      jetstream.JetStream
	stream  string
	subj    subjects
	slots   chan struct{} // one per replay running
	timeout time.Duration
	log     *slog.Logger
	calls   atomic.Uint64 // replays asked for, for /healthz
}

func newJSHistory(js jetstream.JetStream, stream string, subj subjects, maxReplays int, timeout time.Duration, log *slog.Logger) *jsHistory {
	if maxReplays <= 0 {
		maxReplays = DefaultMaxReplays
	}
	if timeout <= 0 {
		timeout = DefaultReplayTimeout
	}
	return &jsHistory{js: js, stream: stream, subj: subj, slots: make(chan struct{}, maxReplays), timeout: timeout, log: log}
}

// errGone is what replay wraps when the stream no longer holds records
// right after the point asked for; sseHistory and wsHistory wrap their
// package's ErrHistoryGone with it.
type errGone struct{ first, after uint64 }

func (e errGone) Error() string {
	return fmt.Sprintf("the stream holds messages from seq %d; asked for those after %d", e.first, e.after)
}

// replay calls yield with each record of topics whose sequence is in
// (after, upTo], in order, until yield returns false. It reads them with
// an ordered consumer filtered on the topics' subjects, from after+1.
//
// When the stream's limits deleted messages that this replay may have
// needed, it returns an errGone after yielding what the stream still holds.
// The consumer skips deleted messages silently, and the sequences it
// delivers jump over other topics' messages anyway, so the test is this:
// once reading is done, the stream's first sequence F is read; if F is past
// the first place where the delivered sequences jumped (after, or the last
// record, when nothing followed it up to upTo), messages there were deleted
// and may have been ours. Limits delete from the head only, so F only grows:
// read after the records, it covers every deletion that could have hidden
// one. (A record deleted after it was read makes this answer a gap that was
// not needed, never the other way round.)
func (h *jsHistory) replay(ctx context.Context, topics []string, after, upTo uint64, yield func(record) bool) error {
	if after >= upTo || len(topics) == 0 {
		return nil
	}
	h.calls.Add(1)
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()

	filters := make([]string, 0, len(topics))
	seen := make(map[string]bool, len(topics))
	for _, t := range topics {
		if s := h.subj.of(t); !seen[s] {
			seen[s] = true
			filters = append(filters, s)
		}
	}
	cons, err := h.js.OrderedConsumer(ctx, h.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    filters,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		InactiveThreshold: replayInactive,
	})
	if err != nil {
		return fmt.Errorf("replay: consumer: %w", err)
	}
	defer h.deleteConsumer(cons)

	prev := after               // the last sequence delivered
	jumpFrom := upTo            // where delivered sequences first jumped; upTo: nowhere
	jump := func(next uint64) { // next follows prev
		if jumpFrom == upTo && next != prev+1 {
			jumpFrom = prev
		}
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		jump(upTo + 1) // nothing at all since after
	} else if err := h.read(ctx, cons, upTo, &prev, jump, yield); err != nil {
		return err
	}

	if jumpFrom >= upTo {
		return nil
	}
	info, err := h.js.Stream(ctx, h.stream)
	if err != nil {
		return fmt.Errorf("replay: stream info: %w", err)
	}
	if first := info.CachedInfo().State.FirstSeq; first > jumpFrom+1 {
		return errGone{first: first, after: after}
	}
	return nil
}

// read delivers the records of cons up to upTo to yield; see replay.
func (h *jsHistory) read(ctx context.Context, cons jetstream.Consumer, upTo uint64, prev *uint64, jump func(uint64), yield func(record) bool) error {
	it, err := cons.Messages(pullLimits(DefaultReplayPendingBytes))
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("replay after seq %d: %w", *prev, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		seq := md.Sequence.Stream
		if seq > upTo {
			jump(seq)
			return nil
		}
		jump(seq)
		*prev = seq
		r, err := h.subj.decode(msg, seq)
		if err != nil {
			h.log.Debug("replay: skipping a message that cannot be delivered", "err", err)
		} else if !yield(r) {
			return nil
		}
		if md.NumPending == 0 {
			jump(upTo + 1) // nothing more of these topics
			return nil
		}
	}
}

func (h *jsHistory) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), consumerDeleteTimeout)
	defer cancel()
	h.js.DeleteConsumer(ctx, h.stream, info.Name)
}

// sseHistory is the stream as an sse.HistorySource.
type sseHistory struct{ h *jsHistory }

// Replay implements sse.HistorySource.
func (s sseHistory) Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(sse.Record) bool) error {
	err := s.h.replay(ctx, topics, after, upTo, func(r record) bool {
		return yield(sse.Record{Seq: r.seq, Topic: r.topic, Event: sse.Event{Type: r.event, Data: r.data}})
	})
	var g errGone
	if errors.As(err, &g) {
		return fmt.Errorf("%w: %v", sse.ErrHistoryGone, g)
	}
	return err
}

// wsHistory is the stream as a ws.HistorySource.
type wsHistory struct{ h *jsHistory }

// Replay implements ws.HistorySource.
func (s wsHistory) Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(ws.Record) bool) error {
	err := s.h.replay(ctx, topics, after, upTo, func(r record) bool {
		return yield(ws.Record{Seq: r.seq, Topic: r.topic, Type: ws.MessageText, Data: []byte(r.data)})
	})
	var g errGone
	if errors.As(err, &g) {
		return fmt.Errorf("%w: %v", ws.ErrHistoryGone, g)
	}
	return err
}
