package reliability

import (
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/wstest"
)

// headerOnlyConns is how many connections each header-only attack opens,
// unless REALTIME_HOSTILE_CONNS says otherwise (see attackConns).
const headerOnlyConns = 400

// headerOnlyOverhead is what one connection of the header-only attacks may
// add to the server's live heap once its frames are read, besides the
// bytes it sent: the frame reader's state, nothing near the read limit.
const headerOnlyOverhead = 16 << 10

// TestHeaderOnlyFrames: WebSocket connections to a default ws.Hub and to
// the echo (ws.Accept), each sending frames that announce the read limit
// and then holding without sending the payload. Once the server has read
// every byte sent and waits for more, its live heap must have grown by the
// bytes received plus a small per-connection overhead, not by the
// announced lengths; publishing goes on and the well-behaved
// clients get everything (runAttack).
func TestHeaderOnlyFrames(t *testing.T) {
	testutil.Long(t)
	const limit = wsReadLimit
	attacks := []struct {
		name   string
		frames []byte
	}{
		{"one frame", wstest.Header(true, wstest.OpBinary, limit)},
		// A first fragment that arrives whole, then a continuation
		// announcing the rest of the limit.
		{"fragments", append(wstest.Encode(wstest.Frame{Op: wstest.OpText, Masked: true, Payload: []byte("hello")}),
			wstest.Header(true, wstest.OpContinuation, limit-5)...)},
	}
	for _, server := range []struct{ name, target string }{{"Hub", "/ws?topic=t"}, {"Accept", "/echo"}} {
		for _, a := range attacks {
			t.Run(server.name+"/"+a.name, func(t *testing.T) {
				n := attackConns(t, headerOnlyConns)
				var as []*wsAttacker
				runAttack(t, attack{
					prepare: func(t *testing.T, r *attackRig) { as = openWS(t, r, n, server.target, nil, false) },
					start: func(t *testing.T, r *attackRig) uint64 {
						for _, c := range as {
							if _, err := c.nc.Write(a.frames); err != nil {
								t.Fatal(err)
							}
						}
						waitRead(t, r, "the server to read every frame header and wait for the payload", as,
							func(int) int64 { return int64(len(a.frames)) }, true)
						// The server waits for the payload, and sends nothing
						// in the middle of a frame.
						for i, c := range as {
							c.nc.SetReadDeadline(time.Now())
							if got, _ := c.nc.Read(make([]byte, 1)); got > 0 {
								t.Fatalf("connection %d: the server sent something to a client in the middle of a frame", i)
							}
							c.nc.SetReadDeadline(time.Time{})
						}
						sent := uint64(n * len(a.frames))
						t.Logf("%d connections sent %d bytes announcing %d each", n, sent, limit)
						return sent + uint64(n)*headerOnlyOverhead
					},
				})
			})
		}
	}
}
