package sse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/streamtest"
	"github.com/realtime-go/realtime/internal/testutil"
)

// streamSource serves a streamtest.Stream as a HistorySource.
type streamSource struct{ *streamtest.Stream }

func (s streamSource) Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(Record) bool) error {
	err := s.Stream.Replay(ctx, topics, after, upTo, func(m streamtest.Message) bool {
		return yield(Record{Seq: m.Seq, Topic: m.Topic, Event: Event{Type: "t", Data: string(m.Data)}})
	})
	if errors.Is(err, streamtest.ErrGone) {
		return fmt.Errorf("%w: %w", ErrHistoryGone, err)
	}
	return err
}

// node is a Broker that applies st from seq from on, as a node of a
// cluster that started then.
func node(t *testing.T, st *streamtest.Stream, from uint64, opts BrokerOptions) (*Broker, *http.Client, string) {
	t.Helper()
	opts.Epoch = "cluster"
	opts.History = streamSource{st}
	b := NewBroker(opts)
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	apply(t, b, st, from)
	ts, c := newServer(t, b, false)
	return b, c, ts.URL
}

// apply publishes the messages of st from seq from on to b.
func apply(t *testing.T, b *Broker, st *streamtest.Stream, from uint64) {
	t.Helper()
	for _, m := range st.From(from) {
		if _, err := b.PublishAt(m.Seq, m.Topic, Event{Type: "t", Data: string(m.Data)}); err != nil {
			t.Fatalf("PublishAt(%d): %v", m.Seq, err)
		}
	}
}

// readIDs reads n events and returns their IDs, and gap events as
// "gap:<reason>".
func readIDs(t *testing.T, r *Reader, n int) []string {
	t.Helper()
	var got []string
	for range n {
		ev := next(t, r)
		if ev.Type == GapEvent {
			_, reason, _ := strings.Cut(ev.Data, `"reason":"`)
			got = append(got, "gap:"+strings.TrimSuffix(reason, `"}`))
			continue
		}
		got = append(got, ev.ID)
	}
	return got
}

// ids returns the IDs of the messages with seq in [from, to] of topics a
// and c: those with seq%3 != 1.
func ids(from, to int) []string {
	var out []string
	for seq := from; seq <= to; seq++ {
		if seq%3 != 1 {
			out = append(out, fmt.Sprintf("cluster-%d", seq))
		}
	}
	return out
}

func TestPublishAtGivesEveryNodeTheSameIDs(t *testing.T) {
	a := NewBroker(BrokerOptions{Epoch: "cluster"})
	b := NewBroker(BrokerOptions{Epoch: "cluster"})
	for _, n := range []*Broker{a, b} {
		id, err := n.PublishAt(7, "news", Event{Data: "x"})
		if err != nil || id != "cluster-7" {
			t.Fatalf("PublishAt(7) = %q, %v; want cluster-7", id, err)
		}
		if _, err := n.PublishAt(7, "news", Event{Data: "again"}); !errors.Is(err, ErrStale) {
			t.Errorf("PublishAt(7) again = %v, want ErrStale", err)
		}
		if id, err := n.Publish("news", Event{Data: "y"}); err != nil || id != "cluster-8" {
			t.Errorf("Publish after PublishAt(7) = %q, %v; want cluster-8", id, err)
		}
	}
}

// A client that saw some events on one node resumes on another with its
// Last-Event-ID and gets exactly what it missed, whether the other node
// holds it, dropped it from its history or started after it.
func TestResumeOnAnotherNode(t *testing.T) {
	st := &streamtest.Stream{}
	for seq := 1; seq <= 300; seq++ {
		st.Add([]string{"a", "b", "c"}[seq%3], []byte(fmt.Sprint(seq)))
	}
	_, ca, urlA := node(t, st, 1, BrokerOptions{})
	_, cb, urlB := node(t, st, 1, BrokerOptions{HistoryBytes: 20 * 200})
	_, cc, urlC := node(t, st, 250, BrokerOptions{})

	_, r := open(t, ca, urlA+"?topic=a&topic=c", "Last-Event-ID", "cluster-0")
	seen := readIDs(t, r, 10)
	if want := ids(1, 15); strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Fatalf("node A: got %q, want %q", seen, want)
	}
	for _, n := range []struct {
		name string
		c    *http.Client
		url  string
	}{{"B, history exceeded", cb, urlB}, {"C, started late", cc, urlC}} {
		t.Run(n.name, func(t *testing.T) {
			_, r := open(t, n.c, n.url+"?topic=a&topic=c", "Last-Event-ID", seen[len(seen)-1])
			want := ids(16, 300)
			if got := readIDs(t, r, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("got %q,\nwant %q", got, want)
			}
		})
	}
}

// A resume from before what the stream still holds is exactly one gap
// event, then everything it holds.
func TestResumeBeyondTheStream(t *testing.T) {
	st := &streamtest.Stream{}
	for seq := 1; seq <= 30; seq++ {
		st.Add("a", []byte(fmt.Sprint(seq)))
	}
	st.DropBefore(21)
	_, c, url := node(t, st, 21, BrokerOptions{})
	_, r := open(t, c, url+"?topic=a", "Last-Event-ID", "cluster-5")
	want := []string{"gap:history exceeded"}
	for seq := 21; seq <= 30; seq++ {
		want = append(want, fmt.Sprintf("cluster-%d", seq))
	}
	if got := readIDs(t, r, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q,\nwant %q", got, want)
	}
}

// A source that fails makes a gap event, and the log says why.
func TestHistorySourceFails(t *testing.T) {
	var log testutil.Buffer
	failing := streamSource{&streamtest.Stream{Fail: errors.New("nats: no responders")}}
	b := NewBroker(BrokerOptions{Epoch: "cluster", History: failing, Logger: log.Logger(), HistorySize: 2})
	defer b.Shutdown(context.Background())
	for range 5 {
		b.Publish("a", Event{Data: "x"})
	}
	ts, c := newServer(t, b, false)
	_, r := open(t, c, ts.URL+"?topic=a", "Last-Event-ID", "cluster-1")
	if got := readIDs(t, r, 3); strings.Join(got, " ") != "gap:history unavailable cluster-4 cluster-5" {
		t.Errorf("got %q, want a gap then what the history holds", got)
	}
	if !strings.Contains(log.String(), "nats: no responders") || !strings.Contains(log.String(), "HistorySource failed") {
		t.Errorf("the log does not say why:\n%s", log.String())
	}
}

// A client cut off in the middle of a replay from the HistorySource
// resumes on another node, which replays from its own source and logs
// while the stream goes on: it gets every event after its last one once,
// in order, then the live ones.
func TestResumeMidReplayOnAnotherNode(t *testing.T) {
	st := &streamtest.Stream{}
	for seq := 1; seq <= 300; seq++ {
		st.Add([]string{"a", "b", "c"}[seq%3], []byte(fmt.Sprint(seq)))
	}
	bb, cb, urlB := node(t, st, 1, BrokerOptions{HistoryBytes: 20 * 200})
	bc, cc, urlC := node(t, st, 250, BrokerOptions{HistoryBytes: 20 * 200})

	resp, r := open(t, cb, urlB+"?topic=a&topic=c", "Last-Event-ID", "cluster-0")
	seen := readIDs(t, r, 50) // from B's source: its logs hold the last few
	if want := ids(1, 75); strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Fatalf("node B: got %q, want %q", seen, want)
	}
	resp.Body.Close()
	for seq := 301; seq <= 320; seq++ {
		st.Add([]string{"a", "b", "c"}[seq%3], []byte(fmt.Sprint(seq)))
	}
	apply(t, bb, st, 301)
	apply(t, bc, st, 301)

	_, r = open(t, cc, urlC+"?topic=a&topic=c", "Last-Event-ID", seen[len(seen)-1])
	want := ids(76, 320)
	if got := readIDs(t, r, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("node C: got %q,\nwant %q", got, want)
	}
	for seq := 321; seq <= 330; seq++ {
		st.Add([]string{"a", "b", "c"}[seq%3], []byte(fmt.Sprint(seq)))
	}
	apply(t, bc, st, 321)
	want = ids(321, 330)
	if got := readIDs(t, r, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("node C, live: got %q, want %q", got, want)
	}
}
