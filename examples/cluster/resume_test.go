package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// burst publishes n messages through the node at base, one after the
// other, over testTopics in turn, until done or ctx ends; wait returns
// what was stored.
type burst struct {
	mu   sync.Mutex
	all  []published
	err  error
	done chan struct{}
}

func startBurst(ctx context.Context, base string, n int, prefix string) *burst {
	b := &burst{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for i := range n {
			key := fmt.Sprintf("%s-%d", prefix, i)
			p, err := publish(ctx, base, testTopics[i%len(testTopics)], key, key)
			b.mu.Lock()
			if err != nil {
				b.err = err
				b.mu.Unlock()
				return
			}
			b.all = append(b.all, p)
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *burst) wait(t testing.TB) []published {
	t.Helper()
	<-b.done
	if b.err != nil {
		t.Fatal(b.err)
	}
	return bySeq(b.all)
}

// A client of node A, which is killed in the middle of a burst (its
// connections cut), resumes on node C from the last ID it got: it receives
// exactly what it missed, no duplicate, no gap. C is running all along,
// started after the messages were published (so its own history lacks
// them and they come from JetStream), or held back (a resume from an ID
// ahead of it waits for it to catch up).
func TestResumeOnAnotherNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, k clientKind)
	}{
		{"running", resumeOnRunningNode},
		{"started-late", resumeOnLateNode},
		{"held-back", resumeOnLaggingNode},
		{"stuck", resumeOnStuckNode},
	} {
		for _, k := range clientKinds {
			t.Run(tc.name+"/"+k.name, func(t *testing.T) { tc.run(t, k) })
		}
	}
}

// A clientKind is SSE or WebSocket.
type clientKind struct {
	name   string
	follow func(t testing.TB, base string, topics []string, lastID string) (*collector, error)
}

var clientKinds = []clientKind{{"sse", followSSEErr}, {"ws", followWSErr}}

// open follows topics at base from lastID, or fails t.
func (k clientKind) open(t testing.TB, base string, topics []string, lastID string) *collector {
	t.Helper()
	c, err := k.follow(t, base, topics, lastID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// resumeOnRunningNode: C runs all along and has everything in its history.
func resumeOnRunningNode(t *testing.T, k clientKind) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	c := startTestNode(t, "c", ns.url(), nil)
	client := k.open(t, a.url, testTopics, a.epoch+"-0")

	const total = 300
	b := startBurst(context.Background(), c.url, total, "burst")
	client.waitCount(t, 50)
	a.kill(t)
	last := client.stop()
	before := client.snapshot()

	resumed := k.open(t, c.url, testTopics, last)
	want := b.wait(t)
	resumed.waitCount(t, len(after(t, want, last)))
	checkExactly(t, "before the kill", before, want[:len(before)])
	checkExactly(t, "after the resume on c", resumed.snapshot(), after(t, want, last))
	if got := before[len(before)-1].id; got != last {
		t.Fatalf("resumed from %s, but the last message received was %s", last, got)
	}
}

// resumeOnLateNode: C starts after every message was published and applies
// only the newest, so the client's resume is served from JetStream.
func resumeOnLateNode(t *testing.T, k clientKind) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	p := startTestNode(t, "publisher", ns.url(), nil)
	client := k.open(t, a.url, testTopics, a.epoch+"-0")

	// The client is cut off during the first half of the messages; the
	// second half is published after.
	const total = 300
	b := startBurst(context.Background(), p.url, total/2, "first")
	client.waitCount(t, 50)
	a.kill(t)
	last := client.stop()
	before := client.snapshot()
	b.wait(t)
	b2 := startBurst(context.Background(), p.url, total/2, "second")
	want := append(b.wait(t), b2.wait(t)...)

	c := startTestNode(t, "c", ns.url(), func(o *nodeOptions) { o.Warmup = -1 })
	c.waitReady(t)
	if c.startSeq != uint64(total) {
		t.Fatalf("c started at seq %d, want %d (the newest only)", c.startSeq, total)
	}
	resumed := k.open(t, c.url, testTopics, last)
	resumed.waitCount(t, len(after(t, want, last)))
	checkExactly(t, "before the kill", before, want[:len(before)])
	checkExactly(t, "after the resume on c", resumed.snapshot(), after(t, want, last))
}

// resumeOnLaggingNode: C's applier is held back while the burst goes on,
// so the client's last ID is ahead of what C applied: the resume waits for
// C (CatchUpWait) and, once C is let go, gets exactly what it missed.
func resumeOnLaggingNode(t *testing.T, k clientKind) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	hold := newGate(20) // C applies up to seq 20, then waits
	c := startTestNode(t, "c", ns.url(), func(o *nodeOptions) {
		o.applyGate = hold.wait
		o.CatchUpWait = waitTimeout // a wait the test ends by letting C go
	})
	client := k.open(t, a.url, testTopics, a.epoch+"-0")

	const total = 300
	b := startBurst(context.Background(), c.url, total, "burst")
	client.waitCount(t, 100)
	a.kill(t)
	last := client.stop()
	before := client.snapshot()
	if seqOf(t, last) <= c.applied.Load() {
		t.Fatalf("client at %s is not ahead of c, which applied %d", last, c.applied.Load())
	}

	// The resume is answered at once, positioned after its ID: it gets
	// what follows once C catches up.
	r := k.open(t, c.url, testTopics, last)
	hold.release()
	want := b.wait(t)
	r.waitCount(t, len(after(t, want, last)))
	checkExactly(t, "before the kill", before, want[:len(before)])
	checkExactly(t, "after the resume on c", r.snapshot(), after(t, want, last))
}

// resumeOnStuckNode: as resumeOnLaggingNode, but C does not catch up
// within CatchUpWait: the client gets a gap ("future id") that says it
// resumes from what C applied, then everything after that.
func resumeOnStuckNode(t *testing.T, k clientKind) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	hold := newGate(20)
	c := startTestNode(t, "c", ns.url(), func(o *nodeOptions) {
		o.applyGate = hold.wait
		o.CatchUpWait = 50 * time.Millisecond
	})
	client := k.open(t, a.url, testTopics, a.epoch+"-0")
	const total = 100
	b := startBurst(context.Background(), c.url, total, "burst")
	want := b.wait(t)
	client.waitCount(t, total)
	last := client.stop()

	resumed := k.open(t, c.url, testTopics, last) // answered at once
	resumed.waitFor(t, "a gap", func(g []got) bool { return len(g) > 0 })
	hold.release()
	resumed.waitCount(t, total-20)
	msgs := resumed.snapshot()
	if g := msgs[0]; !g.gap || g.id != c.id(20) || !strings.Contains(g.data, "future id") {
		t.Fatalf("first message %+v, want a gap of reason \"future id\" with id %s", g, c.id(20))
	}
	checkExactly(t, "after the gap", msgs[1:], after(t, want, c.id(20)))
}

// gate holds a node's applier before a given sequence until released.
type gate struct {
	from uint64
	open chan struct{}
	once sync.Once
}

func newGate(upTo uint64) *gate { return &gate{from: upTo + 1, open: make(chan struct{})} }

func (g *gate) wait(ctx context.Context, seq uint64) error {
	if seq < g.from {
		return nil
	}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return errors.New("node stopped")
	}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// A resume that JetStream serves in several calls (the Broker and Hub ask
// for about 1 MiB at a time) gets every message once, in order.
func TestLongResumeFromJetStream(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	const total, size = 400, 6 << 10 // 2.4 MB
	var want []published
	pad := strings.Repeat("x", size)
	for i := range total {
		p, err := publish(context.Background(), a.url, testTopics[i%2], fmt.Sprint(i, pad), "")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	c := startTestNode(t, "c", ns.url(), func(o *nodeOptions) { o.Warmup = -1 })
	c.waitReady(t)
	for _, k := range clientKinds {
		calls := c.hist.calls.Load()
		client := k.open(t, c.url, testTopics, c.id(0))
		client.waitCount(t, total)
		checkExactly(t, k.name+" client", client.snapshot(), want)
		if n := c.hist.calls.Load() - calls; n < 3 {
			t.Errorf("%s client: %d replays from JetStream, want 3 or more (about 1 MiB each)", k.name, n)
		}
	}
}
