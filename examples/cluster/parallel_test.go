package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// testWorkers is how many workers the tests' filtered nodes apply with:
// more than the processors of a small machine, so that topics are
// applied out of the stream's order.
const testWorkers = 4

// spreadTopics returns n topics, as many on each of workers workers of a
// node (n a multiple of workers), named prefix and a number.
func spreadTopics(t *testing.T, n *testNode, prefix string, count, workers int) []string {
	t.Helper()
	per := make([][]string, workers)
	for i := 0; !full(per, count/workers); i++ {
		if i > 100*count {
			t.Fatalf("no %d topics over %d workers", count, workers)
		}
		name := fmt.Sprintf("%s%d", prefix, i)
		w := workerOf(n.subj.of(name), workers)
		if len(per[w]) < count/workers {
			per[w] = append(per[w], name)
		}
	}
	// In turn over the workers: topics[i] is on worker i%workers.
	var topics []string
	for i := range count / workers {
		for w := range workers {
			topics = append(topics, per[w][i])
		}
	}
	return topics
}

func full(per [][]string, each int) bool {
	for _, p := range per {
		if len(p) < each {
			return false
		}
	}
	return true
}

// shuffler is an applyGate that makes a filtered node's workers apply out
// of the stream's order: every holdEvery-th message waits until a message
// holdAhead later entered the gate (on another worker, as the one behind
// it on its own waits), or a while has passed. It only reorders: no
// test decides anything by how long it waits.
type shuffler struct {
	mu      sync.Mutex
	seen    uint64        // the highest sequence that entered the gate
	changed chan struct{} // closed and replaced when seen grows
	held    int           // messages held
	armed   chan uint64   // see arm
}

const (
	holdEvery  = 7
	holdAhead  = 6
	holdAtMost = 200 * time.Millisecond // when no later message comes
	holdArmed  = time.Second            // see arm
)

// arm makes the gate hold the next message that enters it for holdArmed,
// and returns that message's sequence once it is held.
func (s *shuffler) arm(t *testing.T) uint64 {
	t.Helper()
	ch := make(chan uint64, 1)
	s.mu.Lock()
	s.armed = ch
	s.mu.Unlock()
	select {
	case seq := <-ch:
		return seq
	case <-time.After(waitTimeout):
		t.Fatal("no message entered the gate")
		return 0
	}
}

// waitSeen waits until a message numbered seq or more entered the gate.
func (s *shuffler) waitSeen(t *testing.T, seq uint64) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok, ch := s.seen >= seq, s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("message %d did not enter the gate", seq)
		}
	}
}

func newShuffler() *shuffler { return &shuffler{changed: make(chan struct{})} }

func (s *shuffler) gate(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	if seq > s.seen {
		s.seen = seq
		close(s.changed)
		s.changed = make(chan struct{})
	}
	armed := s.armed
	s.armed = nil
	s.mu.Unlock()
	if armed != nil {
		armed <- seq
		select {
		case <-time.After(holdArmed):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if seq%holdEvery != 0 {
		return ctx.Err()
	}
	s.mu.Lock()
	s.held++
	s.mu.Unlock()
	timer := time.NewTimer(holdAtMost)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ahead, ch := s.seen >= seq+holdAhead, s.changed
		s.mu.Unlock()
		if ahead {
			return nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// parallelNode starts a filtered node that applies with testWorkers
// workers, reordered by a shuffler.
func parallelNode(t *testing.T, name, natsURL string, s *shuffler) *testNode {
	t.Helper()
	return startTestNode(t, name, natsURL, func(o *nodeOptions) {
		o.Filtered, o.applyWorkers, o.applyGate = true, testWorkers, s.gate
	})
}

// A burst over many topics, applied by several workers out of the
// stream's order: every client of a filtered node, of one topic or of
// several applied by different workers, gets every message of its topics
// exactly once, in the stream's order.
func TestFilteredParallelOrderAcrossTopics(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), filtered)
	s := newShuffler()
	b := parallelNode(t, "b", ns.url(), s)
	topics := spreadTopics(t, b, "k", 3*testWorkers, testWorkers)
	from := b.epoch + "-0"
	type client struct {
		c    *collector
		mine []string
	}
	var clients []client
	for i := range len(topics) / 2 {
		// Three topics each, on three workers (see spreadTopics).
		mine := []string{topics[2*i], topics[(2*i+1)%len(topics)], topics[(2*i+6)%len(topics)]}
		follow := followSSE
		if i%2 == 1 {
			follow = followWS
		}
		clients = append(clients, client{follow(t, b.url, mine, from), mine})
	}
	clients = append(clients, client{followWS(t, b.url, topics, from), topics})
	const n = 1200
	var sent []published
	for p := range topicBurst(t, a.url, topics, n, "order") {
		sent = append(sent, p)
	}
	if len(sent) != n {
		t.Fatalf("published %d of %d", len(sent), n)
	}
	sent = bySeq(sent)
	for i, c := range clients {
		want := ofTopics(sent, c.mine...)
		c.c.waitCount(t, len(want))
		checkExactly(t, fmt.Sprintf("client %d (%s of %v)", i, c.c.name, c.mine), c.c.snapshot(), want)
	}
	if st := b.broker.Stats(); st.Published != n || st.Gaps != 0 {
		t.Errorf("broker stats %+v, want %d published, no gap", st, n)
	}
	if st := b.hub.Stats(); st.Published != n || st.Gaps != 0 {
		t.Errorf("hub stats %+v, want %d published, no gap", st, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == 0 {
		t.Error("no message was held back: the test applied in order")
	}
}

// Topics' first clients on a filtered node that applies with several
// workers out of order, arriving during a burst and resuming from an ID
// the burst published a while ago, alone or with a topic the node
// applies already, get every message of their topics after that ID, once,
// in order: the node makes its consumer again only once every message it
// handed out is applied and readable. The first ones arrive while a
// worker holds a message, and messages after it on other workers are
// applied.
func TestFilteredParallelFirstClientsMidBurst(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), filtered)
	s := newShuffler()
	b := parallelNode(t, "b", ns.url(), s)
	topics := spreadTopics(t, b, "f", 3*testWorkers, testWorkers)
	from0 := b.epoch + "-0"
	early := followSSE(t, b.url, topics[:4], from0)
	const n = 900
	ch := topicBurst(t, a.url, topics, n, "first")
	var sent []published
	take := func(upto int) {
		for len(sent) < upto {
			p, ok := <-ch
			if !ok {
				t.Fatal("burst ended early")
			}
			sent = append(sent, p)
		}
	}
	type client struct {
		c    *collector
		mine []string
		from string
	}
	var late []client
	take(n / 3)
	held := s.arm(t)
	s.waitSeen(t, held+uint64(len(topics)))
	from := sent[n/6].ID
	late = append(late,
		client{followSSE(t, b.url, topics[4:5], from), topics[4:5], from},
		client{followWS(t, b.url, []string{topics[5], topics[6], topics[0]}, from), []string{topics[5], topics[6], topics[0]}, from})
	take(2 * n / 3)
	from = sent[n/2].ID
	late = append(late,
		client{followWS(t, b.url, topics[7:10], from), topics[7:10], from},
		client{followSSE(t, b.url, []string{topics[10], topics[11], topics[4]}, from), []string{topics[10], topics[11], topics[4]}, from})
	take(n)
	sent = bySeq(sent)
	want := ofTopics(sent, topics[:4]...)
	early.waitCount(t, len(want))
	checkExactly(t, "early", early.snapshot(), want)
	for i, c := range late {
		want := after(t, ofTopics(sent, c.mine...), c.from)
		c.c.waitCount(t, len(want))
		checkExactly(t, fmt.Sprintf("late client %d (%s of %v from %s)", i, c.c.name, c.mine, c.from), c.c.snapshot(), want)
	}
}

// A message that cannot be delivered, between others of its topic and
// of topics on other workers, does not hold back the watermark: the
// messages after it reach the clients, and the node counts them applied.
func TestFilteredParallelUndecodableMessage(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), filtered)
	b := parallelNode(t, "b", ns.url(), newShuffler())
	topics := spreadTopics(t, b, "u", testWorkers, testWorkers)
	c := followWS(t, b.url, topics, b.epoch+"-0")
	var sent []published
	for p := range topicBurst(t, a.url, topics, 40, "before") {
		sent = append(sent, p)
	}
	// Not UTF-8: no node can carry it.
	ack, err := ns.connect(t).Publish(context.Background(), b.subj.of(topics[0]), []byte{0xff, 0xfe})
	if err != nil {
		t.Fatal(err)
	}
	for p := range topicBurst(t, a.url, topics, 40, "after") {
		sent = append(sent, p)
	}
	if len(sent) != 80 {
		t.Fatalf("published %d of 80", len(sent))
	}
	sent = bySeq(sent)
	if sent[0].Seq > ack.Sequence || sent[len(sent)-1].Seq < ack.Sequence {
		t.Fatalf("the undeliverable message (%d) is not among the others", ack.Sequence)
	}
	c.waitCount(t, len(sent))
	checkExactly(t, c.name, c.snapshot(), sent)
	last := sent[len(sent)-1].Seq
	waitfor.Cond(t, fmt.Sprintf("node b to count %d applied", last), waitTimeout, func() bool { return b.applied.Load() >= last })
}

// A filtered node stops while a worker holds a message and the reader
// waits for room (what is in flight is at its bound): every goroutine of
// the applier returns, and Shutdown returns in time.
func TestFilteredParallelStopsWhileHeld(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), filtered)
	entered := make(chan uint64, 100)
	b := startTestNode(t, "b", ns.url(), func(o *nodeOptions) {
		o.Filtered, o.applyWorkers = true, testWorkers
		o.PendingBytes = 4 * (flightOverhead + 64) // four small messages
		o.applyGate = func(ctx context.Context, seq uint64) error {
			select {
			case entered <- seq:
			default:
			}
			if seq == 1 { // the stream's first message
				<-ctx.Done() // held until the node stops
				return ctx.Err()
			}
			return nil
		}
	})
	topics := spreadTopics(t, b, "s", testWorkers, testWorkers)
	c := followSSE(t, b.url, topics, b.epoch+"-0")
	for range topicBurst(t, a.url, topics, 40, "held") {
	}
	// The first message of each worker enters the gate (the first held,
	// the others applied behind it); the next one is the bound's fifth,
	// which the reader waits to hand out. None is readable.
	for range testWorkers {
		select {
		case <-entered:
		case <-time.After(waitTimeout):
			t.Fatal("no message reached the workers")
		}
	}
	if got := c.snapshot(); len(got) != 0 {
		t.Errorf("a client read %d messages while the first was held: %+v", len(got), got[0])
	}
	b.stop(t)
}

// The messages in flight hold back the reader once they reach the bound,
// until the watermark passes enough of them: a message applied behind
// one that is not frees nothing, and moves no watermark.
func TestInFlightWatermark(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInFlight(300)
		for i, seq := range []uint64{10, 12, 15} {
			if k, ok := f.add(seq, 100); !ok || k != uint64(i) {
				t.Fatalf("add(%d) = %d, %v", seq, k, ok)
			}
		}
		added := false
		go func() {
			if k, ok := f.add(20, 100); !ok || k != 3 {
				t.Errorf("add(20) = %d, %v, want 3, true", k, ok)
			}
			added = true
		}()
		synctest.Wait()
		if added {
			t.Fatal("a fourth message went in flight past the bound")
		}
		if f.done(1) {
			t.Fatalf("done(12) before 10 moved the watermark to %d", f.watermark())
		}
		synctest.Wait()
		if added {
			t.Fatal("a message applied behind one that is not made room")
		}
		if !f.done(0) || f.watermark() != 12 {
			t.Fatalf("done(10): watermark %d, want 12", f.watermark())
		}
		synctest.Wait()
		if !added {
			t.Fatal("no room made once the watermark passed two messages")
		}
		if f.done(3) || f.watermark() != 12 {
			t.Fatalf("done(20) before 15: watermark %d, want 12", f.watermark())
		}
		if !f.done(2) || f.watermark() != 20 {
			t.Fatalf("done(15): watermark %d, want 20", f.watermark())
		}
	})
}

// The node stopping wakes a reader that waits for room.
func TestInFlightStopWakesReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newInFlight(100)
		f.add(1, 100)
		ok := true
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, ok = f.add(2, 100)
		}()
		synctest.Wait()
		f.stop()
		<-done
		if ok {
			t.Error("add returned true once the node stopped")
		}
	})
}
