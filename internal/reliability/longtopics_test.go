package reliability

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// TestAttackManyLongTopics: clients that each ask for the most topics a
// client may have (MaxTopics, 64), each named with the longest name a
// topic may have (MaxTopicLength, 256 bytes) and new, and never read;
// they connect while the publisher publishes, so that the live clients'
// latency (logged) shows what connecting holds up. The server holds, per
// client, its connection, the request as it was sent (the names, once)
// and a topic and a position per name.
func TestAttackManyLongTopics(t *testing.T) {
	testutil.Long(t)
	n := attackConns(t, 400)
	var connected atomic.Int64
	runAttack(t, attack{
		start: func(t *testing.T, r *attackRig) uint64 {
			reqs := make([]string, n)
			for i := range n {
				var q strings.Builder
				for k := range wsMaxTopics {
					name := fmt.Sprintf("%d-%d-", i, k)
					name += strings.Repeat("t", hub.MaxTopicLength-len(name))
					fmt.Fprintf(&q, "&topic=%s", name)
				}
				if i%2 == 0 {
					reqs[i] = fmt.Sprintf("GET /events?%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", q.String()[1:], r.addr)
				} else {
					reqs[i] = fmt.Sprintf("GET /ws?%s HTTP/1.1\r\nHost: %s\r\n%s\r\n", q.String()[1:], r.addr, upgradeHeaders)
				}
			}
			d := dialer("", true)
			sse0, ws0 := r.broker.Stats().Opened, r.hub.Stats().Opened
			r.wg.Go(func() {
				many(n, func(i int) error {
					c, err := d.Dial("tcp", r.addr)
					if err != nil {
						return err
					}
					r.hold(c.Close)
					_, err = c.Write([]byte(reqs[i]))
					connected.Add(1)
					return err
				})
			})
			// The attack is in place once a quarter of the clients are
			// served: the rest connect while messages are published.
			waitfor.State(t, "a quarter of the clients to be served", waitTimeout, func() (bool, string) {
				s, h := r.broker.Stats().Opened-sse0, r.hub.Stats().Opened-ws0
				return int(s+h) >= n/4, fmt.Sprintf("%d streams, %d connections", s, h)
			})
			return uint64(n) * (streamOverhead + wsMaxTopics*(topicOverhead+hub.MaxTopicLength))
		},
	})
	t.Logf("%d of %d clients connected", connected.Load(), n)
}
