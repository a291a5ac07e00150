package ws

import (
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of what compressed messages may make the server inflate. Each
// compressed message may inflate to maxInflateRatio times its compressed
// size; past that it draws on credit, kept per client address (the host
// of the request's RemoteAddr, or a Hub's ClientAddr) and for all clients
// together, so that neither many connections nor reconnecting multiplies
// it. Credit spent comes back evenly over inflateCreditPeriod. A message
// that needs more than is left fails its connection with
// StatusPolicyViolation. Ordinary traffic compresses less than
// maxInflateRatio and never draws on credit. Behind a reverse proxy,
// connections made with Accept all count under the proxy's address (a
// Hub's under its ClientAddr). A connection made with Dial reads a server,
// not clients: it has inflateCreditPerAddr of its own.
//
// Inflating costs CPU for the Huffman tables of each block as well as
// for each byte produced: every dynamic Huffman block a message holds
// counts as blockWork bytes produced, so that blocks that inflate to
// nothing are paid for like the bytes they would otherwise be.
const (
	// inflateCreditPerAddr is the credit of one client address, over all
	// its connections: 1 MiB, a message of defaultReadLimit bytes that
	// compresses as well as DEFLATE allows.
	inflateCreditPerAddr = 1 << 20

	// inflateCreditTotal is the credit of all clients together: 16 MiB.
	inflateCreditTotal = 16 << 20

	// inflateCreditPeriod is how long spent credit takes to come back in
	// full.
	inflateCreditPeriod = 10 * time.Minute
)

// creditUnit is the least credit a message that uses any is charged, so
// that the addresses holding spent credit are at most
// inflateCreditTotal/creditUnit.
const creditUnit = 1 << 10

// inflateCredit is the credit compressed messages draw on, per address and
// in all.
type inflateCredit struct {
	perAddr, total int64
	period         time.Duration
	now            func() time.Time

	mu    sync.Mutex
	all   spentCredit
	addrs map[string]*spentCredit
	sweep int // len(addrs) at which to drop the entries repaid
}

// spentCredit is credit spent and not yet come back, as of a time.
type spentCredit struct {
	spent int64
	at    time.Time
}

func newInflateCredit(perAddr, total int64, period time.Duration) *inflateCredit {
	return &inflateCredit{perAddr: perAddr, total: total, period: period, now: time.Now, addrs: make(map[string]*spentCredit), sweep: 64}
}

// serverCredit is the credit of the connections a server accepts (Accept
// and every Hub).
var serverCredit atomic.Pointer[inflateCredit]

func init() {
	serverCredit.Store(newInflateCredit(inflateCreditPerAddr, inflateCreditTotal, inflateCreditPeriod))
}

// repay brings s up to now: what came back of full since s.at. Less than
// a byte is left to accrue, so that frequent calls do not lose it.
func (b *inflateCredit) repay(s *spentCredit, full int64, now time.Time) {
	if s.spent == 0 {
		s.at = now
		return
	}
	back := int64(float64(now.Sub(s.at)) / float64(b.period) * float64(full))
	if back <= 0 {
		return
	}
	s.spent -= min(s.spent, back)
	s.at = now
}

// take reserves up to want bytes of credit for addr: as much as both addr's
// credit and everyone's have left. It returns what it reserved, which
// settle then charges or gives back.
func (b *inflateCredit) take(addr string, want int64) int64 {
	if want <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.repay(&b.all, b.total, now)
	a := b.addrs[addr]
	if a == nil {
		if len(b.addrs) >= b.sweep {
			b.dropRepaid(now)
		}
		a = &spentCredit{at: now}
		b.addrs[addr] = a
	}
	b.repay(a, b.perAddr, now)
	r := min(want, b.perAddr-a.spent, b.total-b.all.spent)
	r = max(r, 0)
	a.spent += r
	b.all.spent += r
	if a.spent == 0 {
		delete(b.addrs, addr)
	}
	return r
}

// settle ends a reservation of addr of reserved bytes of which used were
// spent: the rest, if any, is given back. Any use is charged at least
// creditUnit, within what was reserved.
func (b *inflateCredit) settle(addr string, reserved, used int64) {
	if used > 0 {
		used = max(used, min(creditUnit, reserved))
	}
	back := reserved - min(max(used, 0), reserved)
	if back == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.all.spent -= min(back, b.all.spent)
	if a := b.addrs[addr]; a != nil {
		a.spent -= min(back, a.spent)
		if a.spent == 0 {
			delete(b.addrs, addr)
		}
	}
}

// dropRepaid forgets the addresses whose spent credit came back. b.mu is
// held.
func (b *inflateCredit) dropRepaid(now time.Time) {
	for k, a := range b.addrs {
		b.repay(a, b.perAddr, now)
		if a.spent == 0 {
			delete(b.addrs, k)
		}
	}
	b.sweep = max(64, 2*len(b.addrs))
}

// spent returns the credit spent and not yet come back, by addr and in
// all.
func (b *inflateCredit) spent(addr string) (byAddr, all int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.repay(&b.all, b.total, now)
	if a := b.addrs[addr]; a != nil {
		b.repay(a, b.perAddr, now)
		byAddr = a.spent
	}
	return byAddr, b.all.spent
}
