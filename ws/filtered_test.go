package ws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/realtime-go/realtime/internal/streamtest"
)

// A Filtered Hub applies only the topics its clients follow: the numbers
// other topics took are no gap for a topic's connection, and the first
// client of a topic that resumes from before it came gets the topic's
// messages from the History, then the live ones, each once.
func TestFilteredHubGapsPerTopic(t *testing.T) {
	st := &streamtest.Stream{}
	src := &countingSource{HistorySource: streamSource{st}}
	h, srv := serveHub(t, HubOptions{Epoch: "cluster", Filtered: true, History: src})
	topicOf := func(seq int) string { return []string{"a", "b", "bin"}[seq%3] }
	apply := func(from uint64, topics ...string) {
		t.Helper()
		for _, m := range st.From(from) {
			if !slices.Contains(topics, m.Topic) {
				continue
			}
			if _, err := h.PublishAt(m.Seq, m.Topic, messageType(m.Topic), m.Data); err != nil {
				t.Fatalf("PublishAt(%d): %v", m.Seq, err)
			}
		}
		if last, ok := st.Last(); ok {
			if err := h.SkipTo(last.Seq); err != nil { // the watermark: readable
				t.Fatalf("SkipTo(%d): %v", last.Seq, err)
			}
		}
	}
	ids := func(topic string, from, to int) (out []string) {
		for seq := from; seq <= to; seq++ {
			if topicOf(seq) == topic {
				out = append(out, fmt.Sprintf("cluster-%d", seq))
			}
		}
		return out
	}
	ca := dial(t, srv.URL+"?topic=a", nil)
	for seq := 1; seq <= 30; seq++ {
		st.Add(topicOf(seq), []byte(fmt.Sprint(seq)))
	}
	apply(1, "a")
	want := ids("a", 1, 30)
	if got := readIDs(t, ca, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("connection of a: got %q,\nwant %q", got, want)
	}
	if n := src.calls.Load(); n != 0 {
		t.Fatalf("History called %d times for other topics' numbers", n)
	}

	cbin := dial(t, srv.URL+"?topic=bin&lastEventId=cluster-4", nil)
	for seq := 31; seq <= 40; seq++ {
		st.Add(topicOf(seq), []byte(fmt.Sprint(seq)))
	}
	apply(31, "a", "bin")
	want = ids("bin", 5, 40)
	if got := readIDs(t, cbin, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("first connection of bin, from cluster-4: got %q,\nwant %q", got, want)
	}
}

// countingSource counts the calls of a HistorySource.
type countingSource struct {
	HistorySource
	calls atomic.Int64
}

func (s *countingSource) Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(Record) bool) error {
	s.calls.Add(1)
	return s.HistorySource.Replay(ctx, topics, after, upTo, yield)
}

// Publish on a Filtered Hub is refused in the package's words: its
// numbers are the stream's, applied with PublishAt.
func TestFilteredHubRefusesPublish(t *testing.T) {
	h := NewHub(HubOptions{Filtered: true})
	defer h.Shutdown(context.Background())
	_, err := h.Publish("a", MessageText, []byte("x"))
	if err == nil || !strings.HasPrefix(err.Error(), "ws: Publish on a Filtered Hub") {
		t.Fatalf("Publish on a Filtered Hub: %v", err)
	}
}
