package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// A resume from an ID the node has not applied yet is answered at once: it
// gets what follows its ID once the node catches up, none of what the
// client has, and Shutdown ends it without waiting for CatchUpWait.
func TestResumeAheadOfTheNode(t *testing.T) {
	b := NewBroker(BrokerOptions{Epoch: "cluster", CatchUpWait: time.Hour})
	b.PublishAt(1, "a", Event{Data: "1"})
	ts, c := newServer(t, b, false)
	_, r := open(t, c, ts.URL+"?topic=a", "Last-Event-ID", "cluster-3")
	for seq := uint64(2); seq <= 5; seq++ {
		if _, err := b.PublishAt(seq, "a", Event{Data: fmt.Sprint(seq)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"cluster-4", "cluster-5"} {
		if ev := next(t, r); ev.ID != want {
			t.Fatalf("got %+v, want %s", ev, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if ev, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after Shutdown: %+v, %v; want the end of the stream", ev, err)
	}
}
