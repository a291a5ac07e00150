package sse

import (
	"context"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/testutil"
)

// sourceFunc is a HistorySource made of a function.
type sourceFunc func(ctx context.Context, topics []string, after, upTo uint64, yield func(Record) bool) error

func (f sourceFunc) Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(Record) bool) error {
	return f(ctx, topics, after, upTo, yield)
}

// A HistorySource that panics costs the resuming stream a gap event, as
// one that fails does, and the log says why: the server goes on.
func TestHistorySourcePanicIsAGap(t *testing.T) {
	var log testutil.Buffer
	panicking := sourceFunc(func(context.Context, []string, uint64, uint64, func(Record) bool) error {
		panic("source bug")
	})
	b := NewBroker(BrokerOptions{Epoch: "cluster", History: panicking, Logger: log.Logger(), HistorySize: 2})
	defer b.Shutdown(context.Background())
	for range 5 {
		b.Publish("a", Event{Data: "x"})
	}
	ts, c := newServer(t, b, false)
	for range 2 { // the second resume finds the server as the first left it
		_, r := open(t, c, ts.URL+"?topic=a", "Last-Event-ID", "cluster-1")
		if got := readIDs(t, r, 3); strings.Join(got, " ") != "gap:history unavailable cluster-4 cluster-5" {
			t.Errorf("got %q, want a gap then what the history holds", got)
		}
	}
	if !strings.Contains(log.String(), "source bug") || !strings.Contains(log.String(), "panic") {
		t.Errorf("the log does not say why:\n%s", log.String())
	}
}

// A HistorySource that yields a record out of order, or of a topic it was
// not asked for, costs the resuming stream a gap event, and the log says
// why in sse's words.
func TestHistorySourceMisorderIsLogged(t *testing.T) {
	for name, yields := range map[string][]Record{
		"out of order":  {{Seq: 3, Topic: "a"}, {Seq: 2, Topic: "a"}},
		"not asked for": {{Seq: 2, Topic: "b"}},
	} {
		var log testutil.Buffer
		src := sourceFunc(func(_ context.Context, _ []string, _, _ uint64, yield func(Record) bool) error {
			for _, r := range yields {
				if !yield(r) {
					break
				}
			}
			return nil
		})
		b := NewBroker(BrokerOptions{Epoch: "cluster", History: src, Logger: log.Logger(), HistorySize: 2})
		for range 5 {
			b.Publish("a", Event{Data: "x"})
		}
		ts, c := newServer(t, b, false)
		_, r := open(t, c, ts.URL+"?topic=a", "Last-Event-ID", "cluster-1")
		if got := readIDs(t, r, 3); !strings.Contains(strings.Join(got, " "), "gap:history unavailable") {
			t.Errorf("%s: got %q, want a gap", name, got)
		}
		if !strings.Contains(log.String(), "sse: HistorySource") || !strings.Contains(log.String(), name) {
			t.Errorf("%s: the log does not say why:\n%s", name, log.String())
		}
		b.Shutdown(context.Background())
	}
}
