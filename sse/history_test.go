package sse

import (
	"bytes"
	"context"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestBrokerHistoryRestart checks that a Broker that loads the history a
// previous one saved resumes its clients without a gap.
func TestBrokerHistoryRestart(t *testing.T) {
	leakcheck.Check(t)
	old := NewBroker(BrokerOptions{})
	publish(t, old, "a", Event{Data: "1"})
	seen := publish(t, old, "a", Event{Data: "2"})
	publish(t, old, "a", Event{Data: "3"})
	if err := old.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	if err := old.SaveHistory(&saved); err != nil {
		t.Fatal(err)
	}

	b := NewBroker(BrokerOptions{})
	if err := b.LoadHistory(&saved); err != nil {
		t.Fatal(err)
	}
	if b.Epoch() != old.Epoch() {
		t.Fatalf("epoch after LoadHistory %q, want the saved %q", b.Epoch(), old.Epoch())
	}
	ts, c := newServer(t, b, false)
	_, r := open(t, c, ts.URL+"?topic=a", "Last-Event-ID", seen)
	if ev := next(t, r); ev.Type != "message" || ev.Data != "3" {
		t.Fatalf("after the restart got %+v, want event 3 and no gap", ev)
	}
	next4 := publish(t, b, "a", Event{Data: "4"})
	if ev := next(t, r); ev.ID != next4 {
		t.Fatalf("got %+v, want %s", ev, next4)
	}
	b.Shutdown(context.Background())
}

// TestBrokerEpoch checks that Epoch prefixes the IDs and that a resume
// from "<epoch>-0" gets every event from the first one, with no gap.
func TestBrokerEpoch(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{})
	first := publish(t, b, "a", Event{Data: "1"})
	if want := b.Epoch() + "-1"; first != want {
		t.Fatalf("first ID %q, want %q", first, want)
	}
	publish(t, b, "a", Event{Data: "2"})
	ts, c := newServer(t, b, false)
	_, r := open(t, c, ts.URL+"?topic=a&lastEventId="+b.Epoch()+"-0")
	for _, want := range []string{"1", "2"} {
		if ev := next(t, r); ev.Type != "message" || ev.Data != want {
			t.Fatalf("got %+v, want event %s and no gap", ev, want)
		}
	}
	b.Shutdown(context.Background())
}
