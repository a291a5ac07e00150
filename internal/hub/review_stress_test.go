package hub

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// reader runs a subscriber's writer as a user would: woken by Notify, it
// calls Take until it gets nothing. It checks that Seq grows strictly (no
// duplicate, no reordering) and that no gap comes.
type reader struct {
	s     *Subscriber
	ready chan struct{}
	buf   []*Message
	got   []*Message
}

func newReader(t *testing.T, h *Hub, lastID string, topics ...string) *reader {
	t.Helper()
	r := &reader{ready: make(chan struct{}, 1)}
	if err := r.subscribe(h, lastID, topics...); err != nil {
		t.Fatal(err)
	}
	return r
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
	for {
		var gap *Gap
		r.buf, gap = r.s.Take(r.buf)
		if gap != nil {
			return fmt.Errorf("gap %v", gap)
		}
		if len(r.buf) == 0 {
			return nil
		}
		for _, m := range r.buf {
			if n := len(r.got); n > 0 && m.Seq <= r.got[n-1].Seq {
				return fmt.Errorf("Seq %d after %d", m.Seq, r.got[n-1].Seq)
			}
			r.got = append(r.got, m)
		}
	}
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

// TestConcurrentJoinLeaveResume: while four publishers burst on four
// topics, subscribers of several topics that join and leave a topic, and
// subscribers that close and resume, get every message of the topics they
// hold throughout, once each, in order.
func TestConcurrentJoinLeaveResume(t *testing.T) {
	leakcheck.Check(t)
	h := newHub(t, Options{HistoryBytes: 64 << 20})
	defer h.Close()
	topics := []string{"a", "b", "c", "d"}
	const perTopic = 1500
	errs := make(chan error, 64)
	var wg sync.WaitGroup

	// Joiners follow a and c throughout, and join and leave b and d.
	for i := range 4 {
		r := newReader(t, h, "", "a", "c")
		wg.Go(func() {
			defer r.s.Close()
			extra := topics[1+2*(i%2)]
			in := false
			err := r.until(func() bool {
				if in {
					r.s.Leave(extra)
				} else if err := r.s.Join(extra); err != nil {
					errs <- err
				}
				in = !in
				return r.count("a") == perTopic && r.count("c") == perTopic
			})
			if err != nil {
				errs <- fmt.Errorf("joiner %d: %w", i, err)
			}
		})
	}
	// Resumers follow b and d, and every few wake-ups close and resume
	// from the last ID they took.
	for i := range 4 {
		r := newReader(t, h, "", "b", "d")
		wg.Go(func() {
			wakes := 0
			err := r.until(func() bool {
				wakes++
				if wakes%(3+i) == 0 && len(r.got) > 0 {
					r.s.Close()
					if err := r.subscribe(h, r.got[len(r.got)-1].ID, "b", "d"); err != nil {
						errs <- err
					}
				}
				return r.count("b") == perTopic && r.count("d") == perTopic
			})
			r.s.Close()
			if err != nil {
				errs <- fmt.Errorf("resumer %d: %w", i, err)
			}
		})
	}
	var pubs sync.WaitGroup
	for _, name := range topics {
		pubs.Go(func() {
			for i := range perTopic {
				publish(t, h, name, fmt.Sprintf("%s%d %s", name, i, strings.Repeat("x", i%200)))
			}
		})
	}
	pubs.Wait()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCutAcrossTopics: a subscriber of several topics that takes nothing
// during a burst of large messages gets all of them, in order, in Takes
// that each hold at most 1 MiB after their first message.
func TestCutAcrossTopics(t *testing.T) {
	h := newHub(t, Options{HistoryBytes: 64 << 20})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a", "b", "c")
	<-s.ready
	const n = 90
	for i := range n {
		size := 100<<10 + i*1000 // about 9 MiB in all, across three topics
		publish(t, h, []string{"a", "b", "c"}[i%3], strings.Repeat("x", size))
	}
	var got []*Message
	for takes := 0; len(got) < n; takes++ {
		msgs, gap := s.Take(nil)
		if gap != nil || len(msgs) == 0 {
			t.Fatalf("take %d after %d messages: %d messages, gap %v", takes, len(got), len(msgs), gap)
		}
		size := 0
		for _, m := range msgs[1:] {
			size += len(m.Data)
		}
		if size > maxTakeBytes {
			t.Fatalf("a Take returned %d bytes after its first message", size)
		}
		got = append(got, msgs...)
	}
	for i, m := range got {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has Seq %d", i, m.Seq)
		}
	}
	if msgs, gap := s.Take(nil); len(msgs) != 0 || gap != nil {
		t.Fatalf("after everything: %d messages, gap %v", len(msgs), gap)
	}
}
