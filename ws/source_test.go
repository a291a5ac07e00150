package ws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/streamtest"
	"github.com/realtime-go/realtime/internal/wstest"
)

// streamSource serves a streamtest.Stream as a HistorySource; binary
// topics' messages are binary.
type streamSource struct{ *streamtest.Stream }

func (s streamSource) Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(Record) bool) error {
	err := s.Stream.Replay(ctx, topics, after, upTo, func(m streamtest.Message) bool {
		return yield(Record{Seq: m.Seq, Topic: m.Topic, Type: messageType(m.Topic), Data: m.Data})
	})
	if errors.Is(err, streamtest.ErrGone) {
		return fmt.Errorf("%w: %w", ErrHistoryGone, err)
	}
	return err
}

func messageType(topic string) MessageType {
	if strings.HasPrefix(topic, "bin") {
		return MessageBinary
	}
	return MessageText
}

// clusterNode is a Hub that applies st from seq from on, as a node of a
// cluster that started then.
func clusterNode(t *testing.T, st *streamtest.Stream, from uint64, opts HubOptions) string {
	t.Helper()
	opts.Epoch = "cluster"
	opts.History = streamSource{st}
	h, srv := serveHub(t, opts)
	for _, m := range st.From(from) {
		if _, err := h.PublishAt(m.Seq, m.Topic, messageType(m.Topic), m.Data); err != nil {
			t.Fatalf("PublishAt(%d): %v", m.Seq, err)
		}
	}
	return srv.URL
}

// readIDs reads n envelopes and returns their IDs, with gap notices as
// "gap:<reason>", checking that each message's data is its sequence
// number.
func readIDs(t *testing.T, c *wstest.Conn, n int) []string {
	t.Helper()
	var got []string
	for range n {
		e := readEnvelope(t, c)
		if e.Type == "gap" {
			got = append(got, "gap:"+e.Reason)
			continue
		}
		data := string(e.Binary)
		if e.Binary == nil {
			data = strings.Trim(string(e.Data), `"`)
		}
		if want := strings.TrimPrefix(e.ID, "cluster-"); data != want {
			t.Fatalf("message %s holds %q", e.ID, data)
		}
		got = append(got, e.ID)
	}
	return got
}

func TestHubPublishAt(t *testing.T) {
	h := NewHub(HubOptions{Epoch: "cluster"})
	defer h.Shutdown(context.Background())
	if id, err := h.PublishAt(7, "news", MessageText, []byte("x")); err != nil || id != "cluster-7" {
		t.Fatalf("PublishAt(7) = %q, %v; want cluster-7", id, err)
	}
	if _, err := h.PublishAt(7, "news", MessageText, []byte("again")); !errors.Is(err, ErrStale) {
		t.Errorf("PublishAt(7) again = %v, want ErrStale", err)
	}
	if _, err := h.PublishAt(9, "news", MessageText, []byte{0xff}); !errors.Is(err, errInvalidUTF8) {
		t.Errorf("PublishAt of invalid text = %v, want errInvalidUTF8", err)
	}
	if id, err := h.Publish("news", MessageText, []byte("y")); err != nil || id != "cluster-8" {
		t.Errorf("Publish after PublishAt(7) = %q, %v; want cluster-8", id, err)
	}
}

// A client that saw some messages on one node resumes on another with its
// lastEventId and gets exactly what it missed, text and binary, whether the
// other node holds it, dropped it from its history or started after it;
// from before what the stream holds, it is one gap notice.
func TestHubResumeOnAnotherNode(t *testing.T) {
	st := &streamtest.Stream{}
	for seq := 1; seq <= 300; seq++ {
		st.Add([]string{"a", "b", "bin"}[seq%3], []byte(fmt.Sprint(seq)))
	}
	urlA := clusterNode(t, st, 1, HubOptions{})
	urlB := clusterNode(t, st, 1, HubOptions{HistoryBytes: 20 * 200})
	urlC := clusterNode(t, st, 250, HubOptions{})

	want := func(from, to int) (out []string) {
		for seq := from; seq <= to; seq++ {
			if seq%3 != 1 {
				out = append(out, fmt.Sprintf("cluster-%d", seq))
			}
		}
		return out
	}
	c := dial(t, urlA+"?topic=a&topic=bin&lastEventId=cluster-0", nil)
	seen := readIDs(t, c, 10)
	if strings.Join(seen, " ") != strings.Join(want(1, 15), " ") {
		t.Fatalf("node A: got %q", seen)
	}
	for _, url := range []string{urlB, urlC} {
		c := dial(t, url+"?topic=a&topic=bin&lastEventId="+seen[len(seen)-1], nil)
		w := want(16, 300)
		if got := readIDs(t, c, len(w)); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("%s: got %q,\nwant %q", url, got, w)
		}
	}

	st.DropBefore(280)
	c = dial(t, urlC+"?topic=a&topic=bin&lastEventId=cluster-100", nil)
	w := append([]string{"gap:history exceeded"}, want(250, 300)...)
	if got := readIDs(t, c, len(w)); strings.Join(got, " ") != strings.Join(w, " ") {
		t.Errorf("from before the stream: got %q,\nwant %q", got, w)
	}
}

// A client cut off in the middle of a replay from the HistorySource
// resumes on another node, which replays from its own source and logs
// while the stream goes on: it gets every message after its last one
// once, in order, then the live ones.
func TestHubResumeMidReplayOnAnotherNode(t *testing.T) {
	st := &streamtest.Stream{}
	add := func(from, to int) {
		for seq := from; seq <= to; seq++ {
			st.Add([]string{"a", "b", "bin"}[seq%3], []byte(fmt.Sprint(seq)))
		}
	}
	apply := func(h *Hub, from uint64) {
		for _, m := range st.From(from) {
			if _, err := h.PublishAt(m.Seq, m.Topic, messageType(m.Topic), m.Data); err != nil {
				t.Fatalf("PublishAt(%d): %v", m.Seq, err)
			}
		}
	}
	node := func(from uint64) (*Hub, string) {
		h, srv := serveHub(t, HubOptions{Epoch: "cluster", History: streamSource{st}, HistoryBytes: 20 * 200})
		apply(h, from)
		return h, srv.URL
	}
	want := func(from, to int) (out []string) {
		for seq := from; seq <= to; seq++ {
			if seq%3 != 1 {
				out = append(out, fmt.Sprintf("cluster-%d", seq))
			}
		}
		return out
	}
	add(1, 300)
	hb, urlB := node(1)
	hc, urlC := node(250)

	c := dial(t, urlB+"?topic=a&topic=bin&lastEventId=cluster-0", nil)
	seen := readIDs(t, c, 50) // from B's source: its logs hold the last few
	if strings.Join(seen, " ") != strings.Join(want(1, 75), " ") {
		t.Fatalf("node B: got %q", seen)
	}
	c.Close()
	add(301, 320)
	apply(hb, 301)
	apply(hc, 301)

	c = dial(t, urlC+"?topic=a&topic=bin&lastEventId="+seen[len(seen)-1], nil)
	if got, w := readIDs(t, c, len(want(76, 320))), want(76, 320); strings.Join(got, " ") != strings.Join(w, " ") {
		t.Fatalf("node C: got %q,\nwant %q", got, w)
	}
	add(321, 330)
	apply(hc, 321)
	if got, w := readIDs(t, c, len(want(321, 330))), want(321, 330); strings.Join(got, " ") != strings.Join(w, " ") {
		t.Errorf("node C, live: got %q, want %q", got, w)
	}
}
