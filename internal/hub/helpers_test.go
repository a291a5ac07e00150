package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/streamtest"
)

// newHub returns a hub with opts and fails the test on error.
func newHub(t testing.TB, opts Options) *Hub {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// publish publishes data to topic and fails the test on error.
func publish(t testing.TB, h *Hub, topic, data string) *Message {
	t.Helper()
	m, err := h.Publish(topic, func(string) []byte { return []byte(data) })
	if err != nil {
		t.Fatalf("Publish(%q): %v", topic, err)
	}
	return m
}

// sub is a subscriber whose writer is the test: ready receives a value
// when the hub wakes it.
type sub struct {
	*Subscriber
	ready chan struct{}
}

// subscribe subscribes and makes the first Take, which holds a resume's
// gap and replay.
func subscribe(t testing.TB, h *Hub, lastID string, topics ...string) (*sub, []*Message, *Gap) {
	t.Helper()
	s, err := h.Subscribe(context.Background(), topics, lastID)
	if err != nil {
		t.Fatalf("Subscribe(%q, %q): %v", topics, lastID, err)
	}
	w := &sub{Subscriber: s, ready: make(chan struct{}, 1)}
	s.Notify(w.wake)
	replay, gap := s.Take(nil)
	return w, replay, gap
}

func (w *sub) wake() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// take returns the messages of one Take, failing on a gap.
func (w *sub) take(t testing.TB) []*Message {
	t.Helper()
	msgs, gap := w.Take(nil)
	if gap != nil {
		t.Fatalf("unexpected gap %v", gap)
	}
	return msgs
}

func datas(ms []*Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Data))
	}
	return out
}

// waitTake takes from s until it holds n messages or the deadline passes.
func waitTake(t *testing.T, s *sub, n int) []*Message {
	t.Helper()
	var got []*Message
	deadline := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case <-s.ready:
			for msgs := s.take(t); len(msgs) > 0; msgs = s.take(t) {
				got = append(got, msgs...)
			}
			if err := s.Err(); err != nil && len(got) < n {
				t.Fatalf("subscriber ended after %d of %d messages: %v", len(got), n, err)
			}
		case <-deadline:
			t.Fatalf("got %d of %d messages", len(got), n)
		}
	}
	return got
}

// stream is what several hubs apply in the tests: every message published
// anywhere, by sequence number, as a shared stream would hold it.
type stream struct {
	streamtest.Stream
	calls sync.Mutex // serialises the counts of source's calls
}

// add records a message of topic with data at seq.
func (st *stream) add(seq uint64, topic, data string) { st.AddAt(seq, topic, []byte(data)) }

// drop forgets the messages before seq.
func (st *stream) drop(before uint64) { st.DropBefore(before) }

// source serves the stream as a Source of epoch; calls counts its calls.
func (st *stream) source(epoch string, calls *int) Source {
	return func(ctx context.Context, topics []string, after, upTo uint64, yield func(*Message) bool) error {
		st.calls.Lock()
		*calls++
		st.calls.Unlock()
		err := st.Replay(ctx, topics, after, upTo, func(m streamtest.Message) bool {
			return yield(&Message{Seq: m.Seq, ID: FormatID(epoch, m.Seq), Topic: m.Topic, Data: m.Data})
		})
		if errors.Is(err, streamtest.ErrGone) {
			return fmt.Errorf("%w: %w", ErrHistoryGone, err)
		}
		return err
	}
}

// from returns the messages the stream holds from seq from on.
func (st *stream) from(from uint64) []*Message {
	var out []*Message
	for _, m := range st.From(from) {
		out = append(out, &Message{Seq: m.Seq, Topic: m.Topic, Data: m.Data})
	}
	return out
}

// apply publishes every message of st from seq from on to h, as a node
// applies the shared stream.
func (st *stream) apply(t testing.TB, h *Hub, from uint64) {
	t.Helper()
	for _, m := range st.from(from) {
		if _, err := h.PublishAt(m.Seq, m.Topic, func(string) []byte { return m.Data }); err != nil {
			t.Fatalf("PublishAt(%d): %v", m.Seq, err)
		}
	}
}

// takeAll takes from s until it finds nothing, returning the messages'
// data and the gaps' reasons in the order the writer got them.
func takeAll(s *Subscriber) (got []string) {
	drainTake(s, nil, func(msgs []*Message, gap *Gap) error {
		if gap != nil {
			got = append(got, "gap:"+gap.Reason)
		}
		got = append(got, datas(msgs)...)
		return nil
	})
	return got
}

// drainTake calls Take on s until it returns nothing, as a writer does
// once woken, and hands each result to each; it stops at the first error
// each returns. It returns the storage to pass to the next Take.
func drainTake(s *Subscriber, buf []*Message, each func(msgs []*Message, gap *Gap) error) ([]*Message, error) {
	for {
		msgs, gap := s.Take(buf)
		buf = msgs
		if len(msgs) == 0 && gap == nil {
			return buf, nil
		}
		if err := each(msgs, gap); err != nil {
			return buf, err
		}
	}
}

func firstDiff(a, b []uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// last returns the last message of the stream.
func (st *stream) last() *Message {
	m, _ := st.Last()
	return &Message{Seq: m.Seq, Topic: m.Topic, Data: m.Data}
}

// all returns every message the stream holds.
func (st *stream) all() []*Message { return st.from(0) }

// reader runs a subscriber's writer as a user would: woken by Notify, it
// calls Take until it gets nothing. It checks that Seq grows strictly (no
// duplicate, no reordering) and that no gap comes.
type reader struct {
	s     *Subscriber
	ready chan struct{}
	buf   []*Message
	got   []*Message
}

// subscribe makes r's subscriber a new one, woken through r.ready.
func (r *reader) subscribe(h *Hub, lastID string, topics ...string) error {
	s, err := h.Subscribe(context.Background(), topics, lastID)
	if err != nil {
		return err
	}
	ready := r.ready
	r.s = s
	s.Notify(func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	})
	return nil
}

// drain takes until Take returns nothing; it reports an error for a gap
// or a Seq that does not grow.
func (r *reader) drain() error {
	var err error
	r.buf, err = drainTake(r.s, r.buf, func(msgs []*Message, gap *Gap) error {
		if gap != nil {
			return fmt.Errorf("gap %v", gap)
		}
		for _, m := range msgs {
			if n := len(r.got); n > 0 && m.Seq <= r.got[n-1].Seq {
				return fmt.Errorf("Seq %d after %d", m.Seq, r.got[n-1].Seq)
			}
			r.got = append(r.got, m)
		}
		return nil
	})
	return err
}

// count returns how many of r's messages are of topic.
func (r *reader) count(topic string) int {
	n := 0
	for _, m := range r.got {
		if m.Topic == topic {
			n++
		}
	}
	return n
}

// until drains r each time it is woken until done says so, or fails.
func (r *reader) until(done func() bool) error {
	deadline := time.After(20 * time.Second)
	for !done() {
		select {
		case <-r.ready:
			if err := r.drain(); err != nil {
				return err
			}
			if err := r.s.Err(); err != nil && !done() {
				return err
			}
		case <-deadline:
			return fmt.Errorf("stopped receiving after %d messages", len(r.got))
		}
	}
	return nil
}

// lastSeq returns the Seq of the last message h applied.
func lastSeq(h *Hub) uint64 {
	_, seq, _ := ParseID(h.LastID())
	return seq
}
func newReader(t *testing.T, h *Hub, lastID string, topics ...string) *reader {
	t.Helper()
	r := &reader{ready: make(chan struct{}, 1)}
	if err := r.subscribe(h, lastID, topics...); err != nil {
		t.Fatal(err)
	}
	return r
}
