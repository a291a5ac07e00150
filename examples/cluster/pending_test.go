package main

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// A client's first join of a topic on a filtered node makes its consumer
// again, and a resume that the node's history cannot cover makes a
// replay's consumer: neither allocates room for a million messages (the
// NATS client's default when a consumer is bounded in bytes alone), so
// what the process allocates per join or replay, NATS server included,
// stays well under that room's 8 MB.
func TestConsumerAllocatesLittle(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	n := startTestNode(t, "n", ns.url(), filtered)
	var sent []published
	for i := range 5 { // no client of the node follows "cold" yet
		p, err := publish(context.Background(), n.url, "cold", fmt.Sprint(i), "")
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, p)
	}
	first := followSSE(t, n.url, []string{"cold"}, n.epoch+"-0")
	first.waitCount(t, len(sent))
	first.stop()
	const rounds = 10
	const budget = 4 << 20 // per join and per replay
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range rounds {
		c := followSSE(t, n.url, []string{fmt.Sprint("new-", i)}, "")
		c.stop()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > budget {
		t.Errorf("%d bytes allocated per first join, want at most %d", per, budget)
	}
	runtime.ReadMemStats(&before)
	for range rounds {
		// The topic is applied (its linger), its history gone with its
		// last client: the replay is JetStream's.
		c := followSSE(t, n.url, []string{"cold"}, n.epoch+"-0")
		c.waitCount(t, len(sent))
		c.stop()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > budget {
		t.Errorf("%d bytes allocated per replay from JetStream, want at most %d", per, budget)
	}
}
