package hub

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

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

// TestSharedStreamChurn: while publishers apply a shared stream with
// PublishAt on four topics, skipping sequence numbers now and then, and
// SkipTo moves the hub on between them, subscribers join, leave, close
// and resume (some from ahead of the hub) and take. Each gets what it gets in strictly growing order, nothing at or
// before an ID it resumed from, and every writer reaches the last message
// of its topics: none parks with a message waiting.
func TestSharedStreamChurn(t *testing.T) {
	leakcheck.Check(t)
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 256 << 10, CatchUpWait: 50 * time.Millisecond})
	defer h.Close()
	topics := []string{"a", "b", "c", "d"}
	const n = 4000

	var seqMu sync.Mutex
	var seq uint64
	next := func(skip bool) uint64 { // seqMu is held
		seq++
		if skip {
			seq++
		}
		return seq
	}
	done := make(chan struct{})
	ends := map[string]uint64{} // each topic's last Seq, set before done closes
	var pubs sync.WaitGroup
	for p := range 4 {
		pubs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 1))
			for i := range n {
				seqMu.Lock()
				if rng.IntN(200) == 0 {
					if err := h.SkipTo(next(true)); err != nil {
						t.Error(err)
					}
				}
				s := next(rng.IntN(50) == 0)
				name := topics[rng.IntN(len(topics))]
				_, err := h.PublishAt(s, name, func(id string) []byte { return fmt.Appendf(nil, "%d %s", i, id) })
				seqMu.Unlock()
				if err != nil {
					t.Error(err)
				}
			}
		})
	}

	errs := make(chan error, 32)
	var subs sync.WaitGroup
	for i := range 8 {
		// Subscribed before the publishers start: one subscribed after
		// the last message would wait for nothing.
		r := newReader(t, h, "", topics[i%4], topics[(i+1)%4])
		subs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			defer func() { r.s.Close() }()
			var floor uint64 // nothing at or before it may come
			action := -1
			var lastGap *Gap
			check := func() (err error) {
				r.buf, err = drainTake(r.s, r.buf, func(msgs []*Message, gap *Gap) error {
					if gap != nil {
						lastGap = gap
						// Past the gap, what follows its Resume comes
						// (from the hub's position, after CatchUpWait).
						if _, at, ok := ParseID(gap.Resume); !ok {
							return fmt.Errorf("gap %v: resume %q", gap, gap.Resume)
						} else if at < floor {
							floor = at
						}
					}
					for _, m := range msgs {
						if m.Seq <= floor {
							return fmt.Errorf("Seq %d after %d (last action %d, gap %v)", m.Seq, floor, action, lastGap)
						}
						floor = m.Seq
						r.got = append(r.got, m)
					}
					return nil
				})
				return err
			}
			deadline := time.After(60 * time.Second)
			for {
				select {
				case <-r.ready:
				case <-done:
				case <-deadline:
					errs <- fmt.Errorf("subscriber %d: stopped at %d", i, floor)
					return
				}
				if err := check(); err != nil {
					errs <- fmt.Errorf("subscriber %d: %w", i, err)
					return
				}
				select {
				case <-done:
					// Past the last message of both its topics: it may
					// have resumed from an ID between them, or a gap may
					// have moved it there, and the first never came.
					if floor >= max(ends[topics[i%4]], ends[topics[(i+1)%4]]) {
						return
					}
					continue
				default:
				}
				extra := topics[(i+2)%4]
				action = rng.IntN(5)
				switch action {
				case 0:
					r.s.Join(extra)
				case 1:
					r.s.Leave(extra)
				case 2:
					// From where it is, even before its first message:
					// a resume from now would skip what came meanwhile,
					// the last messages of its topics perhaps.
					from := FormatID("S", floor)
					if rng.IntN(4) == 0 { // ahead of the hub
						floor = lastSeq(h) + 30
						from = FormatID("S", floor)
					}
					r.s.Close()
					if err := r.subscribe(h, from, topics[i%4], topics[(i+1)%4]); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	pubs.Wait()
	// The last message goes to every topic, so every writer has one to reach.
	seqMu.Lock()
	for _, name := range topics {
		ends[name] = next(false)
		if _, err := h.PublishAt(ends[name], name, func(string) []byte { return []byte("end") }); err != nil {
			t.Error(err)
		}
	}
	seqMu.Unlock()
	close(done)
	subs.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestJoinOverMaxTopicsWhileLeaving: a Join refused for MaxTopics while
// other goroutines join and leave topics of the same subscriber counts the
// topics under the subscriber's lock (the race detector checks).
func TestJoinOverMaxTopicsWhileLeaving(t *testing.T) {
	h := newHub(t, Options{MaxTopicsPerSubscriber: 2})
	defer h.Close()
	s, err := h.Subscribe(t.Context(), []string{"a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 2000 {
				if g%2 == 0 {
					if err := s.Join("c", "d"); err == nil {
						t.Error("Join past MaxTopicsPerSubscriber succeeded")
					}
				} else {
					s.Join("b")
					s.Leave("b")
				}
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
}
