package main

import (
	"context"
	"fmt"
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

// While the NATS server is down, a client comes to a filtered node for a
// topic it does not apply: once NATS is back, the node consumes the topic
// from where it stood, and the client gets every message published after
// its ID, once; a client of a topic the node applied all along misses
// nothing either.
func TestFilteredFirstClientWhileNATSDown(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), filtered)
	b := startTestNode(t, "b", ns.url(), filtered)
	from := a.epoch + "-0"
	along := followSSE(t, b.url, []string{"along"}, from)
	before := publishTopics(t, a.url, []string{"along", "late"}, 20, "before")
	along.waitCount(t, len(ofTopics(before, "along")))
	last := before[len(before)-1].ID

	ns.stop()
	late := []*collector{followSSE(t, b.url, []string{"late"}, last), followWS(t, b.url, []string{"late", "along"}, last)}
	ns.start()
	a.waitReady(t)
	b.waitReady(t)
	after := publishTopics(t, a.url, []string{"along", "late"}, 20, "after")
	all := append(before, after...)
	along.waitCount(t, len(ofTopics(all, "along")))
	checkExactly(t, "along", along.snapshot(), ofTopics(all, "along"))
	for i, want := range [][]published{ofTopics(after, "late"), after} {
		late[i].waitCount(t, len(want))
		checkExactly(t, late[i].name, late[i].snapshot(), want)
	}
}

// publishTopics publishes n messages through base over topics in turn, and
// returns them in stream order.
func publishTopics(t *testing.T, base string, topics []string, n int, prefix string) []published {
	t.Helper()
	var out []published
	for i := range n {
		key := fmt.Sprintf("%s-%d", prefix, i)
		p, err := publish(context.Background(), base, topics[i%len(topics)], key, key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return bySeq(out)
}
