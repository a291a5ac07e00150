package hub

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Resumes served by the Source while PublishAt goes on, on several topics,
// with small logs (so that the logs evict during replays) and skipped
// sequence numbers (so that live subscribers take from the Source too):
// each subscriber gets every message of its topics after its resume point,
// once, in order, and no gap.
func TestSourceReplayRacesPublishAt(t *testing.T) {
	st := &stream{}
	var calls int
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 40 * (messageOverhead + 4), Source: st.source("S", &calls), ReplayBytes: 64 << 10})
	defer h.Close()
	topics := []string{"a", "b", "c", "d"}
	const total = 3000
	seq := uint64(0)
	pub := func(n int, r *rand.Rand) {
		for range n {
			seq++
			topic := topics[r.IntN(len(topics))]
			st.add(seq, topic, fmt.Sprint(seq))
			if r.IntN(10) == 0 {
				continue // this node skips it: the Source holds it
			}
			m := st.last()
			if _, err := h.PublishAt(m.Seq, m.Topic, func(string) []byte { return m.Data }); err != nil {
				t.Errorf("PublishAt(%d): %v", m.Seq, err)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	pub(500, r)
	type reader struct {
		topics []string
		from   uint64
		got    []uint64
		gaps   []string
		done   chan struct{}
	}
	var readers []*reader
	stop := make(chan struct{})
	for i := range 12 {
		rd := &reader{topics: []string{topics[i%4], topics[(i+1)%4]}, from: uint64(i * 37), done: make(chan struct{})}
		readers = append(readers, rd)
		s, err := h.Subscribe(context.Background(), rd.topics, FormatID("S", rd.from))
		if err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{}, 1)
		s.Notify(func() {
			select {
			case ready <- struct{}{}:
			default:
			}
		})
		go func() {
			defer close(rd.done)
			defer s.Close()
			var buf []*Message
			record := func(msgs []*Message, gap *Gap) error {
				if gap != nil {
					rd.gaps = append(rd.gaps, gap.Reason)
				}
				for _, m := range msgs {
					rd.got = append(rd.got, m.Seq)
				}
				return nil
			}
			for {
				buf, _ = drainTake(s, buf, record)
				select {
				case <-ready:
				case <-stop:
					drainTake(s, buf, record) // what is left, then end
					return
				}
			}
		}()
	}
	for seq < total {
		pub(50, r)
		time.Sleep(time.Millisecond) // let readers interleave; correctness does not depend on it
	}
	// The last message is applied, so every reader can reach it.
	seq++
	st.add(seq, "a", fmt.Sprint(seq))
	m := st.last()
	h.PublishAt(m.Seq, m.Topic, func(string) []byte { return m.Data })
	close(stop)
	all := st.all()
	for i, rd := range readers {
		<-rd.done
		var want []uint64
		for _, m := range all {
			if m.Seq > rd.from && slices.Contains(rd.topics, m.Topic) {
				want = append(want, m.Seq)
			}
		}
		if len(rd.gaps) > 0 || !slices.Equal(rd.got, want) {
			t.Errorf("reader %d (%v from %d): gaps %q, got %d messages, want %d; first difference at %d",
				i, rd.topics, rd.from, rd.gaps, len(rd.got), len(want), firstDiff(rd.got, want))
		}
	}
	if free := h.replayBudget.free; free != 64<<10 {
		t.Errorf("replay budget %d once every replay ended, want %d", free, 64<<10)
	}
}

// Messages a hub skipped (PublishAt jumping ahead) stay missed when the
// logs then evict older ones: the eviction does not lower the mark the
// skip left, so a resume from before them, and a live subscriber, take
// them from the Source instead of silently going without.
func TestSkipSurvivesEviction(t *testing.T) {
	st := &stream{}
	var calls int
	h := newHub(t, Options{Epoch: "S", HistoryBytes: 3 * (messageOverhead + 1), Source: st.source("S", &calls)})
	defer h.Close()
	live, _ := h.Subscribe(context.Background(), []string{"a"}, "")
	defer live.Close()
	for seq := uint64(1); seq <= 6; seq++ {
		st.add(seq, "a", fmt.Sprint(seq))
		if seq == 5 {
			continue // skipped here; the next PublishAt evicts 1 to 3
		}
		if _, err := h.PublishAt(seq, "a", func(string) []byte { return []byte(fmt.Sprint(seq)) }); err != nil {
			t.Fatal(err)
		}
		if seq == 4 {
			if got := takeAll(live); !slices.Equal(got, []string{"1", "2", "3", "4"}) {
				t.Fatalf("live subscriber got %q, want 1 to 4", got)
			}
		}
	}
	if got := takeAll(live); !slices.Equal(got, []string{"5", "6"}) {
		t.Errorf("live subscriber got %q after the skip, want 5 6", got)
	}
	s, err := h.Subscribe(context.Background(), []string{"a"}, "S-4")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := takeAll(s); !slices.Equal(got, []string{"5", "6"}) {
		t.Errorf("resume from S-4 got %q, want 5 6", got)
	}
}
