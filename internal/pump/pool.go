package pump

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Handoff is how long a round may run on a shared writer of a Pool before
// the Pool counts that writer out and starts another in its place: a round
// that writes to a client that does not read (or waits on anything else)
// keeps the goroutine it runs on, but no longer holds a writer that other
// connections need. A round that writes to a client that reads takes
// microseconds. The writer counted out finishes its round, then comes back
// to the Pool if the Pool has room for it, and exits otherwise; the pump
// whose round it was runs its rounds on a goroutine of its own until that
// goroutine has had nothing to write for Linger, so that a slow client
// holds a shared writer once, not once per burst.
const Handoff = 10 * time.Millisecond

// A Pool is a set of long-lived writer goroutines, at most one per CPU
// (GOMAXPROCS), that run the rounds of the pumps given to it (see
// Pump.InitIn). A pump woken is put on the Pool's ready list instead of
// starting or waking a goroutine of its own; a writer takes the pumps
// ready in turn and runs one round of each: no goroutine is started and no
// stack grows per burst, and the rounds of many connections share the
// warm stacks of a few goroutines.
//
// Writers start on demand and exit after Linger without work, or at once
// when the Pool is closed; a round that runs longer than Handoff is left
// its goroutine (see Handoff). A pump's first rounds run on a goroutine of
// its own (see Pump.InitIn). The zero value is not usable: use NewPool.
type Pool struct {
	max int // writers at most, besides those counted out

	mu       sync.Mutex
	ready    []*Pump   // woken pumps waiting for a writer, in order; from head
	head     int       // ready[:head] were taken
	writers  []*writer // the Pool's writers, busy or parked
	parked   []*writer // writers waiting for work, the last parked first
	closed   bool      // no pump is put on the ready list any more; parked writers exit
	checking bool      // the handoff check is armed
	check    *time.Timer
}

// A writer is one goroutine of a Pool.
type writer struct {
	p     *Pool
	kick  chan struct{} // room for one: wakes the writer while it is parked
	timer *time.Timer   // the writer's Linger while parked

	rounds atomic.Uint64 // rounds started; bumped as each starts
	busy   atomic.Bool   // a round runs
	seen   uint64        // rounds at the last handoff check; under p.mu
	out    bool          // counted out of the Pool by the handoff check; under p.mu
}

// NewPool returns a Pool that runs at most GOMAXPROCS writers at a time
// (besides those counted out, see Handoff).
func NewPool() *Pool {
	return &Pool{max: runtime.GOMAXPROCS(0)}
}

// Close makes the Pool's parked writers exit, and those running exit once
// the ready list is empty (a round that stalls is still handed off, so
// that the pumps ready behind it do not wait for it); a pump woken after
// Close runs its rounds on a goroutine of its own, as a pump without a
// Pool does. It never blocks.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	parked := p.parked
	p.parked = nil
	p.mu.Unlock()
	for _, w := range parked {
		w.kick <- struct{}{}
	}
}

// push puts pu on the ready list and makes sure a writer will take it. It
// reports false once the Pool is closed: the caller runs pu itself.
func (p *Pool) push(pu *Pump) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.appendLocked(pu)
	if w := p.unparkLocked(); w != nil {
		p.mu.Unlock()
		w.kick <- struct{}{} // room for one: only the pusher that unparked w sends
		return true
	}
	if len(p.writers) < p.max {
		w := p.newWriterLocked()
		p.mu.Unlock()
		go w.run()
		return true
	}
	p.mu.Unlock()
	return true
}

// newWriterLocked adds a writer to the Pool, for the caller to start.
// p.mu is held.
func (p *Pool) newWriterLocked() *writer {
	w := &writer{p: p, kick: make(chan struct{}, 1)}
	p.writers = append(p.writers, w)
	return w
}

// appendLocked puts pu at the end of the ready list. While writers take
// from its head and wakers add at its end, the list rarely empties: its
// storage is reused from the front once half of it was taken, rather than
// grown. p.mu is held.
func (p *Pool) appendLocked(pu *Pump) {
	if len(p.ready) == cap(p.ready) && p.head >= len(p.ready)/2 && p.head > 0 {
		n := copy(p.ready, p.ready[p.head:])
		clear(p.ready[n:])
		p.ready = p.ready[:n]
		p.head = 0
	}
	p.ready = append(p.ready, pu)
}

// maxKeptReady is the largest ready list whose storage the Pool keeps once
// it is empty.
const maxKeptReady = 1 << 12

// next returns the next pump ready, or nil when there is none. p.mu is
// held.
func (p *Pool) nextLocked() *Pump {
	if p.head == len(p.ready) {
		if cap(p.ready) > maxKeptReady {
			p.ready = nil
		} else {
			p.ready = p.ready[:0]
		}
		p.head = 0
		return nil
	}
	pu := p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	return pu
}

// armCheckLocked arms the handoff check unless it is armed. p.mu is held.
func (p *Pool) armCheckLocked() {
	if p.checking {
		return
	}
	p.checking = true
	if p.check == nil {
		p.check = time.AfterFunc(Handoff, p.handoff)
	} else {
		p.check.Reset(Handoff)
	}
}

// handoff counts out of the Pool every writer whose round has run since
// the last check, and starts writers in their place for the pumps ready.
// It runs every Handoff while any writer of the Pool is busy.
func (p *Pool) handoff() {
	p.mu.Lock()
	if !p.checking {
		p.mu.Unlock()
		return
	}
	busy := false
	for i := 0; i < len(p.writers); {
		w := p.writers[i]
		if !w.busy.Load() {
			i++
			continue
		}
		if r := w.rounds.Load(); r != w.seen {
			w.seen = r
			busy = true
			i++
			continue
		}
		w.out = true
		w.leaveLocked()
	}
	start := p.replaceLocked()
	busy = busy || len(start) > 0
	p.checking = busy
	if p.checking {
		p.check.Reset(Handoff)
	}
	p.mu.Unlock()
	for _, w := range start {
		go w.run()
	}
}

// replaceLocked adds writers, for the caller to start, in place of those
// counted out, while pumps are ready, no writer is parked and the Pool
// has room. p.mu is held.
func (p *Pool) replaceLocked() []*writer {
	var start []*writer
	for n := len(p.ready) - p.head; n > 0 && len(p.parked) == 0 && len(p.writers) < p.max; n-- {
		start = append(start, p.newWriterLocked())
	}
	return start
}

// countOut takes w, whose round is about to block, out of the Pool at
// once, and starts a writer in its place if pumps are ready.
func (p *Pool) countOut(w *writer) {
	p.mu.Lock()
	if w.out {
		p.mu.Unlock()
		return
	}
	w.out = true
	w.leaveLocked()
	start := p.replaceLocked()
	p.mu.Unlock()
	for _, w := range start {
		go w.run()
	}
}

// run is a writer: it runs one round of each pump ready, in turn, parks
// while none is, and exits after Linger parked or when the Pool closes.
func (w *writer) run() {
	p := w.p
	p.mu.Lock()
	for {
		pu := p.nextLocked()
		if pu == nil {
			if !w.park() {
				return
			}
			continue
		}
		p.armCheckLocked()
		p.mu.Unlock()
		w.rounds.Add(1)
		w.busy.Store(true)
		again := pu.runOnce(w)
		w.busy.Store(false)
		p.mu.Lock()
		if !w.out {
			if again {
				// To the back of the list, so that a connection that
				// always has more to write does not keep the others
				// waiting.
				p.appendLocked(pu)
			}
			continue
		}
		// The round was counted out: its connection is slow, and runs
		// on a goroutine of its own from now on (see Pump.alone).
		p.mu.Unlock()
		pu.leavePool(again)
		p.mu.Lock()
		if !p.closed && len(p.writers) >= p.max {
			// The Pool has its writers: this one exits, and a parked one
			// takes what is ready, if any.
			k := p.unparkLocked()
			p.mu.Unlock()
			if k != nil {
				k.kick <- struct{}{}
			}
			return
		}
		// Back in the Pool (or, once it is closed, helping to empty the
		// ready list before it exits).
		w.out = false
		p.writers = append(p.writers, w)
	}
}

// unparkLocked takes a parked writer off the parked list, for the caller
// to kick once p.mu is unlocked, when pumps are ready and a writer is
// parked; otherwise it returns nil. p.mu is held.
func (p *Pool) unparkLocked() *writer {
	n := len(p.parked)
	if n == 0 || p.head == len(p.ready) {
		return nil
	}
	w := p.parked[n-1]
	p.parked[n-1] = nil
	p.parked = p.parked[:n-1]
	return w
}

// park waits for work, for Close or for Linger to pass. p.mu is held on
// entry and, when park reports true, on return; false means the writer
// left the Pool and p.mu is unlocked.
func (w *writer) park() bool {
	p := w.p
	if p.closed {
		w.leaveLocked()
		p.mu.Unlock()
		return false
	}
	p.parked = append(p.parked, w)
	if w.timer == nil {
		w.timer = time.NewTimer(Linger)
	} else {
		w.timer.Reset(Linger)
	}
	p.mu.Unlock()
	kicked := false
	select {
	case <-w.kick:
		kicked = true
	case <-w.timer.C:
	}
	p.mu.Lock()
	for i, x := range p.parked {
		if x == w {
			// Still parked: Linger passed with no work for w.
			last := len(p.parked) - 1
			p.parked[i], p.parked[last] = p.parked[last], nil
			p.parked = p.parked[:last]
			w.leaveLocked()
			p.mu.Unlock()
			w.timer.Stop()
			return false
		}
	}
	// A pusher or Close took w off the parked list: unless its kick was
	// received above, it is sent or about to be; take it, so that kick is
	// empty again.
	if !kicked {
		p.mu.Unlock()
		<-w.kick
		p.mu.Lock()
	}
	w.timer.Stop()
	if p.closed && p.head == len(p.ready) {
		w.leaveLocked()
		p.mu.Unlock()
		return false
	}
	return true
}

// leaveLocked takes w out of the Pool's writers. p.mu is held.
func (w *writer) leaveLocked() {
	p := w.p
	for i, x := range p.writers {
		if x == w {
			last := len(p.writers) - 1
			p.writers[i], p.writers[last] = p.writers[last], nil
			p.writers = p.writers[:last]
			return
		}
	}
}
