package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
)

// A Replayer is a package's history source: it yields records of its own
// type R, as sse.HistorySource and ws.HistorySource do (see Source).
type Replayer[R any] interface {
	Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(R) bool) error
}

// A SourceAdapter turns a package's Replayer into the hub's Source.
type SourceAdapter[R any] struct {
	Src Replayer[R]
	// Epoch returns the hub's epoch, asked once per call of the Source.
	Epoch func() string
	// Encode encodes a record with its ID as the package's Publish does,
	// or reports why it cannot be sent.
	Encode func(r R, epoch string) (*Message, error)
	// Log receives a record for each failure and panic of Src; Prefix
	// ("sse") and Gets ("the resuming stream gets a gap event") say whose
	// and what it costs.
	Log          *slog.Logger
	Prefix, Gets string
}

// Source returns the Source: each call calls Src.Replay, encodes what it
// yields, and turns a record it cannot send (invalid, out of order, of a
// topic not asked for), a failure or a panic of Src into an error (a gap
// for the client, and a log record in the package's words) rather than a
// crash.
func (a SourceAdapter[R]) Source() Source {
	return func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) (err error) {
		defer func() {
			if v := recover(); v != nil { // a bug in Src costs a client a gap, not the server
				a.Log.LogAttrs(ctx, slog.LevelError, a.Prefix+": panic in HistorySource: "+a.Gets,
					slog.Any("topics", topics), slog.Uint64("after", after), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				err = fmt.Errorf("%s: HistorySource panicked: %v", a.Prefix, v)
			}
		}()
		epoch := a.Epoch()
		var bad error
		last, stopped := after, false // stopped: yield returned false, and what follows is ignored
		err = a.Src.Replay(ctx, topics, after, upTo, func(r R) bool {
			if stopped || bad != nil {
				return false
			}
			m, err := a.Encode(r, epoch)
			switch {
			case err != nil:
				bad = err
			case m.Seq > upTo:
				stopped = !yield(m) // past the call's range: the hub stops there
				return !stopped
			case m.Seq <= last:
				bad = fmt.Errorf("record %d out of order (after %d)", m.Seq, last)
			case !slices.Contains(topics, m.Topic):
				bad = fmt.Errorf("record %d of topic %q, not asked for", m.Seq, m.Topic)
			}
			if bad != nil {
				return false
			}
			last = m.Seq
			stopped = !yield(m)
			return !stopped
		})
		if bad != nil {
			err = bad
		}
		if err != nil && !errors.Is(err, ErrHistoryGone) && ctx.Err() == nil {
			a.Log.LogAttrs(ctx, slog.LevelError, a.Prefix+": HistorySource failed: "+a.Gets,
				slog.Any("topics", topics), slog.Uint64("after", after), slog.Any("err", err))
			err = fmt.Errorf("%s: HistorySource: %w", a.Prefix, err)
		}
		return err
	}
}
