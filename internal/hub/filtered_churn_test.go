package hub

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFilteredChurnWithParallelAppliers: a filtered hub applied by one
// goroutine per shard of topics, the watermark moved by whichever applier
// completes a message, while subscribers come and go, join and leave
// topics, so that topics often lose their last subscriber with messages
// above the watermark and get a first one again. Each subscriber, its own
// writer, must get its topics' messages in Seq order, each once, with no
// gap; every message of a topic after the watermark when it started
// following it, up to the watermark when it stopped; and none of a topic
// it did not follow. Once everyone left and the watermark passed every
// message, the hub holds no topic and nothing on its list above the head.
func TestFilteredChurnWithParallelAppliers(t *testing.T) {
	const n = 15000
	topics := []string{"t0", "t1", "t2", "t3", "t4", "t5", "z"} // z: another node's
	h := newHub(t, Options{Epoch: "E", Filtered: true, HistoryBytes: 1 << 20})
	defer h.Close()
	stream := make([]string, n+1) // seq to topic
	for seq := 1; seq <= n; seq++ {
		stream[seq] = topics[(seq*5+seq/7)%len(topics)]
	}

	finished := make(chan struct{})
	var rounds, taken atomic.Int64
	var churn sync.WaitGroup
	for c := range 4 {
		churn.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for round := 0; ; round++ {
				select {
				case <-finished:
					return
				default:
				}
				got, err := churnOnce(h, rng, topics[:6], stream, finished)
				if err != nil {
					t.Errorf("churner %d, round %d: %v", c, round, err)
					return
				}
				rounds.Add(1)
				taken.Add(int64(got))
			}
		})
	}

	ap := startAppliers(t, h, stream, 3, func(topic string) int { return int(topic[1]-'0') % 3 })
	for seq := uint64(1); seq <= n; seq++ {
		if seq%50 == 0 {
			// Let the churners come and go meanwhile: a round of one of
			// them per 50 messages (the bound only catches a hang).
			for deadline := time.Now().Add(10 * time.Second); rounds.Load() < int64(seq/50) && !t.Failed() && time.Now().Before(deadline); {
				time.Sleep(50 * time.Microsecond)
			}
		}
		ap.apply(seq)
	}
	ap.finish()
	close(finished)
	churn.Wait()
	t.Logf("%d subscribers took %d messages", rounds.Load(), taken.Load())
	if t.Failed() {
		return
	}
	if got := lastSeq(h); got != n {
		t.Fatalf("watermark at %d, want %d", got, n)
	}
	h.aboveMu.Lock()
	above := len(h.above)
	h.aboveMu.Unlock()
	if st := h.Stats(); st.Topics != 0 || st.Subscribers != 0 || above != 0 {
		t.Errorf("everyone left and the watermark passed everything: %d topics, %d subscribers, %d on the list above the head", st.Topics, st.Subscribers, above)
	}
}

// churnOnce runs one subscriber through Subscribe, Join, Leave and Close
// on random topics, taking as its writer, and checks what it got.
func churnOnce(h *Hub, rng *rand.Rand, topics, stream []string, finished chan struct{}) (int, error) {
	type span struct {
		from, to uint64 // every message of the topic in (from, to] must come
		before   uint64 // none up to it may
		until    uint64 // nor any after it
		open     bool
	}
	spans := map[string][]*span{}
	r := &reader{ready: make(chan struct{}, 1)}
	start := func(names []string, join func() error) error {
		before := lastSeq(h)
		if err := join(); err != nil {
			return err
		}
		after := lastSeq(h)
		for _, name := range names {
			spans[name] = append(spans[name], &span{from: after, before: before, open: true})
		}
		return nil
	}
	// stop ends the spans of names: the writer drains up to the watermark
	// it read, then leaves.
	stop := func(names []string, leave func()) error {
		to := lastSeq(h)
		if err := r.drain(); err != nil {
			return err
		}
		leave()
		until := lastSeq(h)
		for _, name := range names {
			for _, sp := range spans[name] {
				if sp.open {
					sp.to, sp.until, sp.open = to, until, false
				}
			}
		}
		return nil
	}
	first := []string{topics[rng.IntN(len(topics))]}
	if err := start(first, func() error { return r.subscribe(h, "", first...) }); err != nil {
		return 0, err
	}
	wait := func() error {
		for range 1 + rng.IntN(3) {
			select { // the applier may wait for this round: it does not wait long
			case <-r.ready:
			case <-finished:
			case <-time.After(time.Millisecond):
			}
			if err := r.drain(); err != nil {
				return err
			}
		}
		return nil
	}
	for range 1 + rng.IntN(4) {
		if err := wait(); err != nil {
			return 0, err
		}
		name := topics[rng.IntN(len(topics))]
		if slices.Contains(r.s.Topics(), name) {
			if err := stop([]string{name}, func() { r.s.Leave(name) }); err != nil {
				return 0, err
			}
		} else if err := start([]string{name}, func() error { return r.s.Join(name) }); err != nil {
			return 0, err
		}
	}
	if err := wait(); err != nil {
		return 0, err
	}
	if err := stop(r.s.Topics(), r.s.Close); err != nil {
		return 0, err
	}
	// What it got: each message within a span of its topic; every message
	// of the topic in the span's sure part.
	for _, m := range r.got {
		ok := false
		for _, sp := range spans[m.Topic] {
			if m.Seq > sp.before && m.Seq <= sp.until {
				ok = true
			}
		}
		if !ok {
			return 0, fmt.Errorf("%s of %s, which it did not follow then", m.ID, m.Topic)
		}
	}
	got := map[uint64]bool{}
	for _, m := range r.got {
		got[m.Seq] = true
	}
	for name, list := range spans {
		for _, sp := range list {
			for seq := sp.from + 1; seq <= sp.to; seq++ {
				if stream[seq] == name && !got[seq] {
					return 0, fmt.Errorf("missed E-%d of %s, which it followed from %d to %d", seq, name, sp.from, sp.to)
				}
			}
		}
	}
	return len(r.got), nil
}
