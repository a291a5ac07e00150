package reliability

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
	"github.com/realtime-go/realtime/ws"
)

// TestAttackCompressionAcrossConnections: clients that negotiate
// permessage-deflate, each sending one message of about 1 KB that
// inflates to just under the read limit, to a Hub that publishes what
// clients send on a topic of its own (as the README's Hub does), so that
// the history keeps every message. Each connection had one message of the
// read limit free of MaxInflateRatio, and a new connection a new one: 100
// connections, 0.1 MB sent, made the Hub hold 100 MiB. Now the free part
// is the credit of the client's address (wsInflateCreditPerAddr) shared
// by its connections, and the rest are closed with 1008.
func TestAttackCompressionAcrossConnections(t *testing.T) {
	testutil.Long(t)
	n := attackConns(t, 100)
	bomb := maskedFrame(0x80|0x40|wstest.OpBinary, deflated(t, make([]byte, wsReadLimit-1)))
	var hub atomic.Pointer[ws.Hub]
	var topics, published, refused atomic.Int64
	var as []*wsAttacker
	runAttack(t, attack{
		hub: ws.HubOptions{
			OnMessage: func(_ *ws.Member, typ ws.MessageType, data []byte) {
				if _, err := hub.Load().Publish(fmt.Sprint("bomb-", topics.Add(1)), typ, data); err == nil {
					published.Add(1)
				}
			},
			OnClose: func(_ *ws.Member, err error) {
				if ce, ok := errors.AsType[*ws.CloseError](err); ok && ce.Code == ws.StatusPolicyViolation {
					refused.Add(1)
				}
			},
		},
		prepare: func(t *testing.T, r *attackRig) {
			hub.Store(r.hub)
			as = openWS(t, r, n, "/ws?topic=t", offerDeflate, true)
		},
		start: func(t *testing.T, r *attackRig) uint64 {
			for _, a := range as {
				if _, err := a.nc.Write(bomb); err != nil {
					t.Fatal(err)
				}
			}
			waitfor.State(t, "every message published or refused", waitTimeout, func() (bool, string) {
				p, f := published.Load(), refused.Load()
				return p+f == int64(n), fmt.Sprintf("%d published, %d refused of %d", p, f, n)
			})
			t.Logf("%d messages published, %d refused with 1008", published.Load(), refused.Load())
			if published.Load() == int64(n) {
				t.Errorf("every one of %d connections inflated a message of %d bytes from %d", n, wsReadLimit-1, len(bomb))
			}
			// What the bytes sent earn, and one address's credit.
			return uint64(n)*(uint64(len(bomb))*wsInflateRatio+2*connOverhead) + wsInflateCreditPerAddr + wsReadLimit
		},
	})
}
