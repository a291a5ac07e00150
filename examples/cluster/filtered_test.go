package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// filtered makes a test node apply only its clients' topics.
func filtered(o *nodeOptions) { o.Filtered = true }

// ofTopics returns the messages of ps on one of topics.
func ofTopics(ps []published, topics ...string) []published {
	var out []published
	for _, p := range ps {
		for _, t := range topics {
			if p.topic == t {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// topicBurst publishes n messages through base over topics in turn, on its own
// goroutine; each one published is sent on the channel, which is closed
// at the end.
func topicBurst(t *testing.T, base string, topics []string, n int, prefix string) <-chan published {
	ch := make(chan published, n)
	go func() {
		defer close(ch)
		for i := range n {
			key := fmt.Sprintf("%s-%d", prefix, i)
			p, err := publish(context.Background(), base, topics[i%len(topics)], key, key)
			if err != nil {
				t.Error(err)
				return
			}
			ch <- p
		}
	}()
	return ch
}

// Three filtered nodes, each with SSE and WebSocket clients of its own
// topics: every client gets exactly its topics' messages, in order, once;
// each node applies only the messages of its clients' topics.
func TestFilteredNodesServeTheirTopics(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	topics := [][]string{{"t0", "t1"}, {"t2", "t3 .>*"}, {"t4"}}
	var nodes []*testNode
	var clients [][]*collector
	for i, name := range []string{"a", "b", "c"} {
		n := startTestNode(t, name, ns.url(), filtered)
		nodes = append(nodes, n)
		from := n.epoch + "-0"
		clients = append(clients, []*collector{followSSE(t, n.url, topics[i], from), followWS(t, n.url, topics[i], from)})
	}
	all := []string{"t0", "t1", "t2", "t3 .>*", "t4", "nobody's"}
	var want []published
	for i := range 120 {
		n := nodes[i%len(nodes)]
		key := fmt.Sprintf("m-%d", i)
		p, err := publish(context.Background(), n.url, all[i%len(all)], key, key)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	for i, n := range nodes {
		mine := ofTopics(want, topics[i]...)
		for _, c := range clients[i] {
			c.waitCount(t, len(mine))
			checkExactly(t, c.name, c.snapshot(), mine)
		}
		if st := n.broker.Stats(); st.Published != uint64(len(mine)) || st.Gaps != 0 {
			t.Errorf("node %s: broker stats %+v, want %d published (its topics only), no gap", n.name, st, len(mine))
		}
		if st := n.hub.Stats(); st.Published != uint64(len(mine)) || st.Gaps != 0 {
			t.Errorf("node %s: hub stats %+v, want %d published, no gap", n.name, st, len(mine))
		}
	}
}

// A topic's first client on a filtered node, during a burst, resuming
// from an ID the burst published a while ago, gets every message of its
// topic after that ID, once, in order (what came before it came from
// JetStream, the rest as the node applies it); so does a client of a
// topic the node applied already.
func TestFilteredFirstClientDuringBurst(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), filtered)
	b := startTestNode(t, "b", ns.url(), filtered)
	old := followSSE(t, b.url, []string{"x"}, b.epoch+"-0")
	const n = 400
	ch := topicBurst(t, a.url, []string{"x", "y", "z"}, n, "burst")
	var sent []published
	for p := range ch {
		sent = append(sent, p)
		if len(sent) == n/2 {
			break
		}
	}
	from := sent[n/4].ID // a message of the burst, a while ago
	late := []*collector{
		followSSE(t, b.url, []string{"y"}, from),
		followWS(t, b.url, []string{"y", "z"}, from),
		followWS(t, b.url, []string{"x"}, from),
	}
	for p := range ch {
		sent = append(sent, p)
	}
	if len(sent) != n {
		t.Fatalf("published %d of %d", len(sent), n)
	}
	sent = bySeq(sent)
	check := func(c *collector, want []published) {
		t.Helper()
		c.waitCount(t, len(want))
		checkExactly(t, c.name, c.snapshot(), want)
	}
	check(old, ofTopics(sent, "x"))
	check(late[0], after(t, ofTopics(sent, "y"), from))
	check(late[1], after(t, ofTopics(sent, "y", "z"), from))
	check(late[2], after(t, ofTopics(sent, "x"), from))
}

// A client of two topics moves from one filtered node to another in the
// middle of a burst, where no client followed its topics: it gets every
// message of its topics, once, in order, across the two.
func TestFilteredClientMovesMidBurst(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), filtered)
	b := startTestNode(t, "b", ns.url(), filtered)
	_ = followSSE(t, b.url, []string{"other"}, "") // b applies another topic meanwhile
	mine := []string{"p", "q"}
	from := a.epoch + "-0" // after what the subtests before published
	for _, kind := range []string{"sse", "ws"} {
		t.Run(kind, func(t *testing.T) {
			follow := followSSE
			if kind == "ws" {
				follow = followWS
			}
			first := follow(t, a.url, mine, from)
			const n = 300
			ch := topicBurst(t, b.url, []string{"p", "other", "q"}, n, "move-"+kind)
			var sent []published
			for p := range ch {
				sent = append(sent, p)
				if len(sent) == n/2 {
					break
				}
			}
			first.waitCount(t, 20)
			lastID := first.stop()
			// Its node no longer counts it as a client of its topics.
			waitfor.Cond(t, "node a to count no client of p and q", waitTimeout, func() bool {
				a.interest.mu.Lock()
				defer a.interest.mu.Unlock()
				return a.interest.refs["p"] == 0 && a.interest.refs["q"] == 0
			})
			second := follow(t, b.url, mine, lastID)
			for p := range ch {
				sent = append(sent, p)
			}
			want := ofTopics(bySeq(sent), mine...)
			from = bySeq(sent)[len(sent)-1].ID
			// What the first had, up to the ID it left with, and the rest.
			var firstPart []got
			for _, m := range first.snapshot() {
				firstPart = append(firstPart, m)
				if m.id == lastID {
					break
				}
			}
			rest := after(t, want, lastID)
			second.waitCount(t, len(rest))
			checkExactly(t, first.name, firstPart, want[:len(firstPart)])
			checkExactly(t, second.name, second.snapshot(), rest)
			if len(firstPart)+len(rest) != len(want) {
				t.Fatalf("%d + %d messages, want %d", len(firstPart), len(rest), len(want))
			}
		})
	}
}

// lingerBriefly makes a filtered test node drop a topic soon after its
// last client left.
func lingerBriefly(o *nodeOptions) { o.Filtered, o.linger = true, 40*time.Millisecond }

// applies reports whether a filtered node's consumer takes topic.
func applies(n *testNode, topic string) bool {
	n.interest.mu.Lock()
	defer n.interest.mu.Unlock()
	return n.interest.applied[topic]
}

// A filtered node drops a topic once its last client left and its linger
// ended, while it goes on applying another; a client that comes back for
// the topic, in the middle of a burst, from the ID it left with, gets
// every message after it once, and the client of the other topic misses
// nothing across the node's consumer being made again twice.
func TestFilteredTopicDroppedComesBack(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), filtered)
	b := startTestNode(t, "b", ns.url(), lingerBriefly)
	from := b.epoch + "-0"
	stays := followWS(t, b.url, []string{"y"}, from)
	leaves := followSSE(t, b.url, []string{"x"}, from)
	const n = 600
	ch := topicBurst(t, a.url, []string{"x", "y"}, n, "drop")
	var sent []published
	for p := range ch {
		sent = append(sent, p)
		if len(sent) == n/3 {
			break
		}
	}
	leaves.waitCount(t, 10)
	lastID := leaves.stop()
	waitfor.Cond(t, "node b to drop topic x", waitTimeout, func() bool { return !applies(b, "x") })
	back := followSSE(t, b.url, []string{"x"}, lastID)
	for p := range ch {
		sent = append(sent, p)
	}
	if len(sent) != n {
		t.Fatalf("published %d of %d", len(sent), n)
	}
	sent = bySeq(sent)
	rest := after(t, ofTopics(sent, "x"), lastID)
	back.waitCount(t, len(rest))
	checkExactly(t, "back on x", back.snapshot(), rest)
	ys := ofTopics(sent, "y")
	stays.waitCount(t, len(ys))
	checkExactly(t, "on y all along", stays.snapshot(), ys)
}

// Clients come and go on a filtered node that drops each topic soon after
// its last client left, during a burst over more topics than any client
// follows: each, SSE or WebSocket, resuming from an ID the burst published
// a while ago, gets exactly its topics' messages after that ID, once, in
// order, up to where it left; those that stay to the end get all of them.
func TestFilteredClientsChurn(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), filtered)
	b := startTestNode(t, "b", ns.url(), lingerBriefly)
	topics := []string{"c0", "c1", "c2", "c3", "c4", "c5"}
	const n, clients = 900, 24
	ch := topicBurst(t, a.url, topics, n, "churn")
	type visit struct {
		c    *collector
		from string
		mine []string
		left bool
	}
	var visits []visit
	var sent []published
	for i := range clients {
		// Wait for a few more messages of the burst between clients.
		for range n / 2 / clients {
			p, ok := <-ch
			if !ok {
				t.Fatal("burst ended early")
			}
			sent = append(sent, p)
		}
		from := b.epoch + "-0"
		if i%3 != 0 {
			from = sent[len(sent)*(i%4)/4].ID
		}
		v := visit{from: from, mine: []string{topics[i%len(topics)], topics[(i*5+1)%len(topics)]}}
		if i%2 == 0 {
			v.c = followSSE(t, b.url, v.mine, from)
		} else {
			v.c = followWS(t, b.url, v.mine, from)
		}
		if i < clients-4 && i%4 != 3 { // some go before the burst ends
			v.c.waitFor(t, "a message", func(g []got) bool { return len(g) > 0 })
			v.c.stop()
			v.left = true
		}
		visits = append(visits, v)
	}
	for p := range ch {
		sent = append(sent, p)
	}
	if len(sent) != n {
		t.Fatalf("published %d of %d", len(sent), n)
	}
	sent = bySeq(sent)
	for i, v := range visits {
		want := after(t, ofTopics(sent, v.mine...), v.from)
		if !v.left {
			v.c.waitCount(t, len(want))
		}
		got := v.c.snapshot()
		if v.left && len(got) <= len(want) {
			want = want[:len(got)]
		}
		checkExactly(t, fmt.Sprintf("client %d (%s of %v from %s)", i, v.c.name, v.mine, v.from), got, want)
	}
}
