package main

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// topics the tests publish to: a plain one, and one a NATS subject could
// not carry as it is (a dot, spaces, wildcards, and not ASCII).
var testTopics = []string{"news", "prices.EUR > USD *é"}

// publishAll publishes perNode messages through each node at once, over
// testTopics in turn, and returns what was stored, in stream order.
func publishAll(t *testing.T, nodes []*testNode, perNode int, prefix string) []published {
	t.Helper()
	var mu sync.Mutex
	var all []published
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for j := range perNode {
				key := fmt.Sprintf("%s-%d-%d", prefix, i, j)
				p, err := publish(context.Background(), n.url, testTopics[j%len(testTopics)], key, key)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return bySeq(all)
}

// Three nodes on one NATS server: SSE and WebSocket clients on every node
// receive every message published at once through all of them, in the
// same order, with the same IDs, none lost and none twice.
func TestThreeNodesDeliverTheSameStream(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	var nodes []*testNode
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, startTestNode(t, name, ns.url(), nil))
	}
	if nodes[0].epoch != nodes[1].epoch || nodes[0].epoch != nodes[2].epoch {
		t.Fatalf("epochs differ: %s %s %s", nodes[0].epoch, nodes[1].epoch, nodes[2].epoch)
	}
	// Clients resume from before the first message, so that none misses
	// one published while it connects.
	from := nodes[0].epoch + "-0"
	var clients []*collector
	for _, n := range nodes {
		clients = append(clients, followSSE(t, n.url, testTopics, from), followWS(t, n.url, testTopics, from))
	}

	const perNode = 100
	want := publishAll(t, nodes, perNode, "m")
	if len(want) != perNode*len(nodes) {
		t.Fatalf("stored %d messages, want %d", len(want), perNode*len(nodes))
	}
	for i, p := range want {
		if p.Seq != uint64(i+1) || p.Duplicate {
			t.Fatalf("publish %d: %+v, want seq %d, no duplicate", i, p, i+1)
		}
	}
	for _, c := range clients {
		c.waitCount(t, len(want))
	}
	for _, c := range clients {
		msgs := c.snapshot()
		checkExactly(t, c.name, msgs, want)
		if c.name[:2] == "ws" {
			for i, m := range msgs[:min(len(msgs), len(want))] {
				if m.topic != want[i].topic {
					t.Fatalf("%s: message %d on topic %q, want %q", c.name, i, m.topic, want[i].topic)
				}
			}
		}
	}
	// Nothing more arrives: each node applied each message once.
	for _, n := range nodes {
		if got := n.applied.Load(); got != uint64(len(want)) {
			t.Errorf("node %s applied up to %d, want %d", n.name, got, len(want))
		}
		if st := n.broker.Stats(); st.Published != uint64(len(want)) || st.Gaps != 0 {
			t.Errorf("node %s: broker stats %+v: want %d published, no gap", n.name, st, len(want))
		}
		if st := n.hub.Stats(); st.Published != uint64(len(want)) || st.Gaps != 0 {
			t.Errorf("node %s: hub stats %+v: want %d published, no gap", n.name, st, len(want))
		}
	}
}
