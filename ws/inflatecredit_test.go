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
// message that inflates to defaultReadLimit bytes, and waits for each to
// be echoed or closed. It returns how many were closed with
// StatusPolicyViolation.
func bombClients(t *testing.T, url string, n int, distinct bool) int {
	bomb := deflateBytes(t, make([]byte, defaultReadLimit))
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
// maxInflateRatio is counted per client address and for all clients, not
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
			OnMessage: func(c *Member, typ MessageType, data []byte) {
				mu.Lock()
				kept = append(kept, data)
				mu.Unlock()
				c.Send(MessageText, []byte("ok"))
			},
		})
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		bomb := deflateBytes(t, make([]byte, defaultReadLimit))
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

		want := int64(inflateCreditPerAddr)
		if distinct {
			want = inflateCreditTotal
		}
		earned := int64(n+1) * int64(len(bomb)) * maxInflateRatio
		byAddr, all := credit.spent("")
		t.Logf("distinct addresses %v: %d of %d messages refused, %d MiB held, heap +%d MiB, credit spent %d KiB (address \"\": %d KiB)",
			distinct, refused, n+1, held>>20, grew>>20, all>>10, byAddr>>10)
		if all > want || byAddr > inflateCreditPerAddr {
			t.Errorf("credit spent %d (one address %d), want at most %d (%d)", all, byAddr, want, inflateCreditPerAddr)
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
// inflateCreditPeriod, and an address's spent credit is forgotten once it
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
	// Credit comes back however often it is looked at.
	for range 1000 {
		at = at.Add(time.Millisecond)
		b.spent("a")
	}
	if _, all := b.spent("a"); all != 725 {
		t.Fatalf("after 1000 looks 1 ms apart: spent %d in all, want 725", all)
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

// bitWriter writes DEFLATE bits, least significant first.
type bitWriter struct {
	out []byte
	acc uint64
	n   uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// code writes a Huffman code of n bits, most significant first.
func (w *bitWriter) code(c uint64, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.bits(c>>uint(i)&1, 1)
	}
}

// emptyBlocks returns a permessage-deflate payload of dynamic Huffman
// blocks that inflate to nothing, about 12 bytes each, until it has size
// bytes.
func emptyBlocks(size int) []byte {
	w := &bitWriter{}
	for len(w.out) < size {
		w.bits(0, 1)  // not final
		w.bits(2, 2)  // dynamic Huffman codes
		w.bits(0, 5)  // 257 literal/length codes
		w.bits(0, 5)  // 1 distance code
		w.bits(14, 4) // 18 code length codes
		lens := map[int]uint64{18: 1, 0: 2, 1: 2}
		for _, s := range []int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1} {
			w.bits(lens[s], 3)
		}
		// Codes: 18 is 0, 0 is 10, 1 is 11.
		w.code(0, 1)
		w.bits(138-11, 7) // literals 0-137 unused
		w.code(0, 1)
		w.bits(118-11, 7) // literals 138-255 unused
		w.code(3, 2)      // the end of block, 256, has a 1-bit code
		w.code(2, 2)      // no distance code
		w.code(0, 1)      // end of block
	}
	if w.n > 0 {
		w.bits(0, 8-w.n)
	}
	return w.out
}

// TestInflateEmptyBlocks: dynamic Huffman blocks that inflate to nothing
// count as work (blockWork each), so a message of them is refused with
// StatusPolicyViolation once they cost more than maxInflateRatio times the
// message's size, having decoded at most that many of them; they were
// inflated to an empty message without limit.
func TestInflateEmptyBlocks(t *testing.T) {
	leakcheck.Check(t)
	freshInflateCredit(t)
	p := emptyBlocks(64 << 10)
	if out, err := inflate(nil, p, defaultReadLimit); err != nil || len(out) != 0 {
		t.Fatalf("the blocks are not empty DEFLATE data: %d bytes, %v", len(out), err)
	}
	maxWork := int64(len(p)) * maxInflateRatio
	_, work, err := inflateWork(nil, p, defaultReadLimit, maxWork)
	if err != errInflateWork || work > maxWork+blockWork {
		t.Fatalf("inflating %d bytes of empty blocks: work %d, %v; want errInflateWork within %d", len(p), work, err, maxWork+blockWork)
	}
	t.Logf("%d bytes of empty blocks (%d blocks): stopped after %d blocks", len(p), len(p)/12, work/blockWork)

	srv := serve(t, nil, echo)
	c := dial(t, srv.URL, offerDeflate)
	if err := c.WriteFrames(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpBinary, Masked: true, Payload: p}); err != nil {
		t.Fatal(err)
	}
	f, err := c.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if f.Op != wstest.OpClose || wstest.ParseClose(f.Payload).Code != int(StatusPolicyViolation) {
		t.Fatalf("got %s, want a close with %d", describeFrame(f), StatusPolicyViolation)
	}
}
