package hub

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// replayerFunc is a Replayer made of a function.
type replayerFunc func(ctx context.Context, topics []string, after, upTo uint64, yield func(uint64) bool) error

func (f replayerFunc) Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(uint64) bool) error {
	return f(ctx, topics, after, upTo, yield)
}

// adapter returns the Source of a Replayer that yields seqs of topic "a",
// ignoring what yield returns.
func adapter(log *slog.Logger, seqs ...uint64) Source {
	return SourceAdapter[uint64]{
		Src: replayerFunc(func(_ context.Context, _ []string, _, _ uint64, yield func(uint64) bool) error {
			for _, s := range seqs {
				yield(s)
			}
			return nil
		}),
		Epoch:  func() string { return "E" },
		Encode: func(s uint64, epoch string) (*Message, error) { return &Message{Seq: s, Topic: "a"}, nil },
		Log:    log, Prefix: "pkg", Gets: "a gap",
	}.Source()
}

// TestSourceAdapterChecksOrder: a record out of order is the Source's
// failure, logged in the package's words; what a Replayer yields after
// yield returned false is ignored, as the hub ignores it.
func TestSourceAdapterChecksOrder(t *testing.T) {
	var log strings.Builder
	logger := slog.New(slog.NewTextHandler(&log, nil))
	var got []uint64
	collect := func(stopAt uint64) func(*Message) bool {
		got = nil
		return func(m *Message) bool { got = append(got, m.Seq); return m.Seq < stopAt }
	}
	err := adapter(logger, 2, 4, 3)(context.Background(), []string{"a"}, 1, 9, collect(9))
	if err == nil || !strings.HasPrefix(err.Error(), "pkg: HistorySource: record 3 out of order") || !strings.Contains(log.String(), "pkg: HistorySource failed") {
		t.Errorf("out of order: err %v, log %q", err, log.String())
	}
	log.Reset()
	err = adapter(logger, 2, 4, 3)(context.Background(), []string{"a"}, 1, 9, collect(4))
	if err != nil || log.Len() != 0 || len(got) != 2 {
		t.Errorf("after yield returned false: err %v, got %v, log %q", err, got, log.String())
	}
	err = adapter(slog.New(slog.NewTextHandler(io.Discard, nil)), 2)(context.Background(), []string{"b"}, 1, 9, collect(9))
	if err == nil || !strings.Contains(err.Error(), "not asked for") {
		t.Errorf("another topic: err %v", err)
	}
}
