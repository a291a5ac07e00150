package hub

import (
	"context"
	"fmt"
	"math"
	"testing"
)

// When the Source holds nothing of a replay, the gap's Resume is where
// the logs go on, as for a gap of the logs: a client that reconnects from
// it before the next message does not ask for the lost range again.
func TestSourceGoneResumesAfterTheRange(t *testing.T) {
	st := &stream{}
	for seq := uint64(1); seq <= 10; seq++ {
		st.add(seq, "a", fmt.Sprint(seq))
	}
	st.drop(9)
	var calls int
	h := newHub(t, Options{Epoch: "S", HistorySize: 2, Source: st.source("S", &calls)})
	defer h.Close()
	st.apply(t, h, 1)
	s, err := h.Subscribe(context.Background(), []string{"a"}, "S-1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msgs, gap := s.Take(nil)
	if gap == nil || len(msgs) != 0 {
		t.Fatalf("first Take: %q, gap %v; want a gap alone", datas(msgs), gap)
	}
	if gap.LastID != "S-1" || gap.Resume != "S-8" || gap.Reason != GapExceeded {
		t.Errorf("gap %+v, want from S-1, resume from S-8, history exceeded", *gap)
	}
	if got := takeAll(s); fmt.Sprint(got) != "[9 10]" {
		t.Errorf("then %q, want 9 10", got)
	}
}

// Publish after PublishAt took the last sequence number fails, instead of
// numbering from 0 again.
func TestPublishAfterTheLastSeq(t *testing.T) {
	h := newHub(t, Options{Epoch: "S"})
	defer h.Close()
	if _, err := h.PublishAt(math.MaxUint64, "a", func(string) []byte { return nil }); err != nil {
		t.Fatal(err)
	}
	if m, err := h.Publish("a", func(string) []byte { return nil }); err == nil {
		t.Errorf("Publish after the last sequence number gave %s", m.ID)
	}
	if id := h.LastID(); id != fmt.Sprintf("S-%d", uint64(math.MaxUint64)) {
		t.Errorf("LastID = %s", id)
	}
}
