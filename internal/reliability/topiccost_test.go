package reliability

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// What the README's threat model states one topic costs a stream
// ("asks for many topics"), with some room for the measure's noise; an
// SSE stream keeps its request besides, and so the topic's name as sent.
const (
	// sharedTopicCost is what a stream's position in a topic that others
	// follow too costs: its place in the subscriber's follows and on the
	// topic's waiting list (about 50 bytes).
	sharedTopicCost = 96
	// ownTopicCost is what a topic only that stream follows costs: the
	// position and the topic itself (its log, waiting list and entry in
	// the hub's table, about 270 bytes), and a copy of its name.
	ownTopicCost = 320 + hub.MaxTopicLength
)

// TestTopicCostPerStream measures, over streams on 127.0.0.1, what each
// topic of a stream costs the server, and checks it against what the
// README states: n streams with one topic, then n with MaxTopics long
// topics, shared by all of them or each its own; the cost of a topic is
// the difference between the two, per stream and extra topic. Each stream
// is an SSE stream in its handler or a WebSocket connection of a Hub, as
// the quickstarts serve them; the clients are raw sockets that send their
// request and read nothing.
func TestTopicCostPerStream(t *testing.T) {
	n := attackConns(t, 400)
	for _, path := range []string{"/events", "/ws"} {
		for _, own := range []bool{false, true} {
			name := path + " shared"
			bound := sharedTopicCost
			if own {
				name, bound = path+" own", ownTopicCost
			}
			t.Run(name, func(t *testing.T) {
				// A loaded machine can starve a client between its connect
				// and its request for longer than the examples'
				// ReadHeaderTimeout: this test measures what a stream
				// costs, so its bound only catches a hang.
				r := startRig(t, rigOptions{readHeaderTimeout: waitTimeout})
				topics := func(i, k int) string {
					name := fmt.Sprintf("%d-", k)
					if own {
						name = fmt.Sprintf("%d-%d-", i, k)
					}
					return name + strings.Repeat("t", 200)
				}
				open := func(first, count, ntopics int) {
					t.Helper()
					reqs := make([]string, count)
					for i := range count {
						var q strings.Builder
						for k := range ntopics {
							fmt.Fprintf(&q, "&topic=%s", topics(first+i, k))
						}
						if path == "/ws" {
							reqs[i] = fmt.Sprintf("GET /ws?%s HTTP/1.1\r\nHost: %s\r\n%s\r\n", q.String()[1:], r.addr, upgradeHeaders)
						} else {
							reqs[i] = fmt.Sprintf("GET /events?%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", q.String()[1:], r.addr)
						}
					}
					// Each request goes out as soon as its connection is
					// open: the server's ReadHeaderTimeout runs from the
					// accept.
					for i := range count {
						c, err := net.Dial("tcp", r.addr)
						if err != nil {
							t.Fatal(err)
						}
						t.Cleanup(func() { c.Close() })
						if _, err := c.Write([]byte(reqs[i])); err != nil {
							t.Fatal(err)
						}
					}
					want := first + count
					waitfor.State(t, "the streams to open", waitTimeout, func() (bool, string) {
						got := r.broker.Stats().Clients
						if path == "/ws" {
							got = r.hub.Stats().Clients
						}
						return got >= want, fmt.Sprintf("%d of %d", got, want)
					})
				}
				base := liveHeap()
				open(0, n, 1)
				one := liveHeap()
				open(n, n, wsMaxTopics)
				many := liveHeap()
				perStream := float64(one-base) / float64(n)
				perTopic := (float64(many-one) - float64(one-base)) / float64(n) / float64(wsMaxTopics-1)
				if path == "/events" {
					bound += len("&topic=") + len(topics(0, 0)) // the request, kept for the stream's life
				}
				t.Logf("%d streams: %.1f KiB each with one topic; each of %d more topics of %d bytes costs %.0f bytes (bound %d)",
					n, perStream/1024, wsMaxTopics-1, len(topics(0, 0)), perTopic, bound)
				if perTopic > float64(bound) && !raceEnabled { // the race detector's allocations are larger
					t.Errorf("a topic costs a stream %.0f bytes, over the %d the README states", perTopic, bound)
				}
			})
		}
	}
}

// TestTopicNamesDoNotPinRequests: a topic outlives the connection that
// created it as long as its history does (HistoryAge, 10 minutes). Its
// name must not keep the request it was read from: a client that named a
// new topic in a request padded to MaxRequestBytes, had one message
// published there (the WebSocket quickstart publishes what clients send)
// and left, made the server hold the whole request for 10 minutes.
func TestTopicNamesDoNotPinRequests(t *testing.T) {
	n := attackConns(t, 400)
	const pad = 30 << 10
	r := startRig(t, rigOptions{})
	base := liveHeap()
	for _, path := range []string{"/events", "/ws"} {
		conns := make([]net.Conn, n)
		for i := range n {
			c, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
			q := fmt.Sprintf("topic=%s-%d&pad=%s", path[1:], i, strings.Repeat("p", pad))
			req := fmt.Sprintf("GET /events?%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", q, r.addr)
			if path == "/ws" {
				req = fmt.Sprintf("GET /ws?%s HTTP/1.1\r\nHost: %s\r\n%s\r\n", q, r.addr, upgradeHeaders)
			}
			if _, err := c.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
		}
		waitfor.State(t, "the streams to open", waitTimeout, func() (bool, string) {
			s, h := r.broker.Stats().Clients, r.hub.Stats().Clients
			return s+h >= n, fmt.Sprintf("%d streams, %d connections", s, h)
		})
		for i := range n {
			topic := fmt.Sprintf("%s-%d", path[1:], i)
			var err error
			if path == "/ws" {
				_, err = r.hub.Publish(topic, ws.MessageText, []byte("x"))
			} else {
				_, err = r.broker.Publish(topic, sse.Event{Data: "x"})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		waitfor.State(t, "the clients to be gone", waitTimeout, func() (bool, string) {
			s, h := r.broker.Stats().Clients, r.hub.Stats().Clients
			return s+h == 0, fmt.Sprintf("%d streams, %d connections", s, h)
		})
	}
	held := float64(liveHeap()-base) / float64(2*n)
	// A topic with one message in its history, and its name.
	const bound = ownTopicCost + 1<<10
	t.Logf("%d topics named in requests of %d KiB, each with one message, their clients gone: %.0f bytes each (bound %d)", 2*n, pad>>10, held, bound)
	if held > bound && !raceEnabled {
		t.Errorf("each topic whose client left holds %.0f bytes, over %d: its name keeps the request it was read from", held, bound)
	}
}
