package main

import (
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// The NATS server stops and starts again with its store: the nodes
// reconnect, their clients get every message published before and after,
// and a node started afterwards serves all of them from JetStream, under
// the same epoch.
func TestNATSServerRestart(t *testing.T) {
	for name, mode := range map[string]func(*nodeOptions){"whole stream": nil, "filtered": filtered} {
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			ns := startNATS(t)
			a := startTestNode(t, "a", ns.url(), mode)
			b := startTestNode(t, "b", ns.url(), mode)
			from := a.epoch + "-0"
			clients := []*collector{
				followSSE(t, a.url, testTopics, from), followWS(t, a.url, testTopics, from),
				followSSE(t, b.url, testTopics, from), followWS(t, b.url, testTopics, from),
			}

			want := publishAll(t, []*testNode{a, b}, 50, "before")
			for _, c := range clients {
				c.waitCount(t, len(want))
			}

			ns.stop()
			ns.start()
			a.waitReady(t)
			b.waitReady(t)
			// Publishes retry (with their IDs) until the nodes' connections are
			// back; each is stored once.
			more := publishAll(t, []*testNode{a, b}, 50, "after")
			want = append(want, more...)
			for _, c := range clients {
				c.waitCount(t, len(want))
				checkExactly(t, c.name, c.snapshot(), want)
			}

			c := startTestNode(t, "c", ns.url(), func(o *nodeOptions) {
				o.Warmup = -1
				if mode != nil {
					mode(o)
				}
			})
			if c.epoch != a.epoch {
				t.Fatalf("epoch after the restart is %s, was %s", c.epoch, a.epoch)
			}
			for _, late := range []*collector{followSSE(t, c.url, testTopics, from), followWS(t, c.url, testTopics, from)} {
				late.waitCount(t, len(want))
				checkExactly(t, "late "+late.name, late.snapshot(), want)
			}
		})
	}
}
