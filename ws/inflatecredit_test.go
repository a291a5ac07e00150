package ws

import (
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

// bombClients connects n clients at once to url+"&as=<i>" (or the same
// address for all when distinct is false), each sending one compressed
// message that inflates to DefaultReadLimit bytes, and waits for each to
// be echoed or closed. It returns how many were closed with
// StatusPolicyViolation.
func bombClients(t *testing.T, url string, n int, distinct bool) int {
	bomb := deflateBytes(t, make([]byte, DefaultReadLimit))
	var refused atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		u := url
		if distinct {
			u += "&as=" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		}
		c := dial(t, u, offerDeflate)
		wg.Go(func() {
			if err := c.WriteFrames(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpBinary, Masked: true, Payload: bomb}); err != nil {
				t.Error(err)
				return
			}
			f, err := c.ReadFrame()
			switch {
			case err != nil:
				t.Error(err)
			case f.Op == wstest.OpClose && wstest.ParseClose(f.Payload).Code == int(StatusPolicyViolation):
				refused.Add(1)
			case f.Op == wstest.OpClose:
				t.Errorf("closed with %v", wstest.ParseClose(f.Payload))
			}
		})
	}
	wg.Wait()
	return int(refused.Load())
}

// TestInflateCreditSharedByAddress: the credit of compressed messages past
// MaxInflateRatio is counted per client address and for all clients, not
// per connection: 40 connections at once, each sending a 1 KiB message
// that inflates to 1 MiB to a Hub that keeps what it receives (as the
// README's Hub publishes it), made it hold 40 MiB; reconnecting made it
// hold more. Now what it holds is what the bytes received earn plus one
// address's credit, or, from 40 addresses, the credit of all.
func TestInflateCreditSharedByAddress(t *testing.T) {
	leakcheck.Check(t)
	const n = 40
	for _, distinct := range []bool{false, true} {
		credit := freshInflateCredit(t)
		var mu sync.Mutex
		var kept [][]byte
		_, srv := serveHub(t, HubOptions{
			MaxClientsPerAddr: 2 * n,
			ClientAddr:        func(r *http.Request) string { return r.URL.Query().Get("as") },
			OnMessage: func(c *Conn, typ MessageType, data []byte) {
				mu.Lock()
				kept = append(kept, data)
				mu.Unlock()
				c.Send(MessageText, []byte("ok"))
			},
		})
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		bomb := deflateBytes(t, make([]byte, DefaultReadLimit))
		refused := bombClients(t, srv.URL+"?topic=t", n, distinct)
		// Reconnecting does not renew the credit.
		refused += bombClients(t, srv.URL+"?topic=t", 1, false)

		mu.Lock()
		var held int64
		for _, k := range kept {
			held += int64(len(k))
		}
		mu.Unlock()
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)

		want := int64(InflateCreditPerAddr)
		if distinct {
			want = InflateCredit
		}
		earned := int64(n+1) * int64(len(bomb)) * MaxInflateRatio
		byAddr, all := credit.spent("")
		t.Logf("distinct addresses %v: %d of %d messages refused, %d MiB held, heap +%d MiB, credit spent %d KiB (address \"\": %d KiB)",
			distinct, refused, n+1, held>>20, grew>>20, all>>10, byAddr>>10)
		if all > want || byAddr > InflateCreditPerAddr {
			t.Errorf("credit spent %d (one address %d), want at most %d (%d)", all, byAddr, want, InflateCreditPerAddr)
		}
		if held > want+earned {
			t.Errorf("the Hub holds %d bytes inflated, want at most %d of credit and %d earned", held, want, earned)
		}
		if grew > 2*(want+earned) {
			t.Errorf("heap grew %d bytes, want at most %d", grew, 2*(want+earned))
		}
		if refused == 0 {
			t.Error("no message refused")
		}
	}
}

// TestInflateCreditComesBack: credit spent comes back evenly over
// InflateCreditPeriod, and an address's spent credit is forgotten once it
// has come back.
func TestInflateCreditComesBack(t *testing.T) {
	b := newInflateCredit(1000, 1500, time.Minute)
	at := time.Unix(0, 0)
	b.now = func() time.Time { return at }
	if r := b.take("a", 2000); r != 1000 {
		t.Fatalf("took %d, want the address's 1000", r)
	}
	b.settle("a", 1000, 1000)
	if r := b.take("b", 2000); r != 500 {
		t.Fatalf("took %d, want the 500 left of all", r)
	}
	b.settle("b", 500, 10) // charged creditUnit, within what was reserved: all 500
	if a, all := b.spent("a"); a != 1000 || all != 1500 {
		t.Fatalf("spent %d, %d", a, all)
	}
	at = at.Add(30 * time.Second)
	if a, all := b.spent("a"); a != 500 || all != 750 {
		t.Fatalf("after half the period: spent %d, %d; want 500, 750", a, all)
	}
	at = at.Add(time.Minute)
	b.sweep = 2 // the next new address drops those repaid
	if r := b.take("c", 100); r != 100 {
		t.Fatalf("took %d after the period", r)
	}
	b.settle("c", 100, 0)
	if _, all := b.spent("a"); all != 0 {
		t.Fatalf("spent %d after the period", all)
	}
	if len(b.addrs) > 0 {
		t.Fatalf("%d addresses kept after their credit came back", len(b.addrs))
	}
}
