package main

import (
	"context"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// A publish retried with the same ID, through the same node or another,
// is stored and delivered once.
func TestPublishRetryDeliveredOnce(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	b := startTestNode(t, "b", ns.url(), nil)
	from := a.epoch + "-0"
	clients := []*collector{followSSE(t, a.url, testTopics, from), followWS(t, b.url, testTopics, from)}

	ctx := context.Background()
	first, err := publish(ctx, a.url, testTopics[1], "once", "order-17")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, b, a} {
		again, err := publish(ctx, n.url, testTopics[1], "once", "order-17")
		if err != nil {
			t.Fatal(err)
		}
		if !again.Duplicate || again.ID != first.ID {
			t.Fatalf("retry through %s: %+v, want a duplicate of %s", n.name, again.publishResponse, first.ID)
		}
	}
	end, err := publish(ctx, b.url, testTopics[0], "end", "")
	if err != nil {
		t.Fatal(err)
	}
	if end.Seq != first.Seq+1 {
		t.Fatalf("next message stored at seq %d, want %d", end.Seq, first.Seq+1)
	}
	for _, c := range clients {
		c.waitCount(t, 2)
		checkExactly(t, c.name, c.snapshot(), []published{first, end})
	}
}
