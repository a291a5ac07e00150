package sse

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/streamtest"
)

// applyTopics publishes to b the events of st from seq from on whose topic
// is in topics, as a node on a stream filtered by topic applies it, then
// moves its watermark to the stream's last event.
func applyTopics(t *testing.T, b *Broker, st *streamtest.Stream, from uint64, topics ...string) {
	t.Helper()
	for _, m := range st.From(from) {
		if !slices.Contains(topics, m.Topic) {
			continue
		}
		if _, err := b.PublishAt(m.Seq, m.Topic, Event{Type: "t", Data: string(m.Data)}); err != nil {
			t.Fatalf("PublishAt(%d): %v", m.Seq, err)
		}
	}
	if last, ok := st.Last(); ok {
		if err := b.SkipTo(last.Seq); err != nil { // the watermark: readable
			t.Fatalf("SkipTo(%d): %v", last.Seq, err)
		}
	}
}

// A Filtered Broker applies only the topics its clients follow: the
// numbers other topics took are no gap for a topic's stream, and a resume
// from before a topic's first client, with no History, still is one.
func TestFilteredBrokerGapsPerTopic(t *testing.T) {
	st := &streamtest.Stream{}
	b := NewBroker(BrokerOptions{Epoch: "cluster", Filtered: true})
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	ts, c := newServer(t, b, false)
	_, ra := open(t, c, ts.URL+"?topic=a")
	topicOf := func(seq int) string { return []string{"a", "b", "c"}[seq%3] }
	for seq := 1; seq <= 30; seq++ {
		st.Add(topicOf(seq), []byte(fmt.Sprint(seq)))
	}
	applyTopics(t, b, st, 1, "a")
	var want []string
	for seq := 3; seq <= 30; seq += 3 {
		want = append(want, fmt.Sprintf("cluster-%d", seq))
	}
	if got := readIDs(t, ra, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("stream of a: got %q,\nwant %q", got, want)
	}

	_, rc := open(t, c, ts.URL+"?topic=c", "Last-Event-ID", "cluster-0")
	st.Add(topicOf(31), []byte("31"))
	st.Add(topicOf(32), []byte("32"))
	applyTopics(t, b, st, 31, "a", "c")
	want = []string{"gap:history exceeded", "cluster-32"}
	if got := readIDs(t, rc, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("first client of c, from before it: got %q, want %q", got, want)
	}
}

// Publish on a Filtered Broker is refused in the package's words: its
// numbers are the stream's, applied with PublishAt.
func TestFilteredBrokerRefusesPublish(t *testing.T) {
	b := NewBroker(BrokerOptions{Filtered: true})
	defer b.Shutdown(context.Background())
	_, err := b.Publish("a", Event{Data: "x"})
	if err == nil || !strings.HasPrefix(err.Error(), "sse: Publish on a Filtered Broker") {
		t.Fatalf("Publish on a Filtered Broker: %v", err)
	}
}
