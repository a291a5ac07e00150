// Package pump runs a connection's writer only while there is something
// to write. It is the writer loop that every stream of package sse and
// every connection of package ws share: an idle connection holds no writer
// goroutine, a burst is written in as few writes as it takes, and stopping
// waits for no one.
//
// The pumps of a Broker's streams and a Hub's connections run on a Pool: a
// few long-lived writers, one per CPU, that take the pumps woken from a
// ready list and run a round of each in turn, so that a burst to thousands
// of connections starts no goroutine and grows no stack (the write path of
// net/http or of a TLS connection grows a new goroutine's stack several
// times over). A round that blocks (a client that does not read) is left
// the goroutine it runs on after Handoff, and the Pool starts two writers
// in its place while pumps wait. A pump without a Pool runs on a goroutine of its
// own, which lingers for Linger after it caught up, warm for the next
// burst.
package pump

import (
	"runtime"
	"sync"
	"time"
)

// Linger is how long a writer that has nothing left to write waits for
// the next Wake before its goroutine exits. A connection that gets
// messages more often than this keeps one warm goroutine; an idle one
// holds none once Linger has passed.
const Linger = 50 * time.Millisecond

// A Pump calls its round function on a goroutine it starts on demand. The
// zero value is not usable: call Init first.
type Pump struct {
	round func() // writes what waits; runs on the pump's goroutine only
	start func() // p.run, bound once: "go p.run()" would allocate each time
	pool  *Pool  // runs the rounds, if not nil (see InitIn)

	// writer is the Pool's writer running the round, if any: set under
	// mu, read by the round.
	writer *writer

	mu      sync.Mutex
	running bool          // a goroutine runs rounds, or lingers
	again   bool          // another round is due
	stopped bool          // no round starts any more
	alone   bool          // rounds run on a goroutine of the pump's own, not the pool's (see Handoff)
	onIdle  func()        // from Stop, for the goroutine to call when it exits
	kick    chan struct{} // while the goroutine lingers: a send wakes it
}

// Init sets the function that writes what waits for the connection. Each
// Wake makes at least one call of round start after it; calls never
// overlap.
func (p *Pump) Init(round func()) {
	p.round = round
	p.start = p.run
}

// InitIn is Init for a pump whose rounds run on the writers of pool (see
// Pool) rather than on a goroutine of its own; a nil pool is Init. The
// pump's first rounds (a resume's replay, which may be large and go to a
// client that does not read) run on a goroutine of its own; once that
// goroutine has had nothing to write for Linger, the pump's rounds run on
// the Pool.
func (p *Pump) InitIn(pool *Pool, round func()) {
	p.Init(round)
	p.pool = pool
	p.alone = pool != nil
}

// FirstRoundsRan tells a pump of InitIn, before its first Wake, that its
// first rounds ran on the caller's goroutine: its rounds run on the Pool
// from the start.
func (p *Pump) FirstRoundsRan() {
	p.mu.Lock()
	p.alone = false
	p.mu.Unlock()
}

// Wake makes sure a round runs after this call: it starts the goroutine
// unless one runs, which then goes round once more. It never blocks and is
// safe from any goroutine; after Stop it does nothing.
func (p *Pump) Wake() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.again = true
	if p.running {
		k := p.kick
		p.kick = nil
		p.mu.Unlock()
		if k != nil {
			k <- struct{}{} // room for one: only the waker that took kick sends
		}
		return
	}
	p.running = true
	pooled := p.pool != nil && !p.alone
	p.mu.Unlock()
	if pooled && p.pool.push(p) {
		return
	}
	go p.start()
}

// leavePool makes the pump run its rounds on a goroutine of its own, until
// that goroutine exits: its round held a writer of its Pool for Handoff.
// again says another round is due; the pump is running.
func (p *Pump) leavePool(again bool) {
	p.mu.Lock()
	p.alone = true
	p.mu.Unlock()
	if again {
		go p.start()
	}
}

// runOnce runs one round on writer w of the pump's Pool, if one is due,
// and reports whether another is due: the writer then puts the pump back
// on the ready list (it stays running meanwhile, so that Wake does not put
// it there twice).
func (p *Pump) runOnce(w *writer) (again bool) {
	p.mu.Lock()
	if !p.stopped && p.again {
		p.again = false
		p.writer = w
		p.mu.Unlock()
		p.round()
		p.mu.Lock()
		p.writer = nil
	}
	switch {
	case p.stopped:
		p.exit(nil)
		return false
	case p.again:
		p.mu.Unlock()
		return true
	}
	p.running = false
	p.mu.Unlock()
	return false
}

// run calls round while rounds are due. Before it exits it yields once, so
// that messages still being published are written by this goroutine in the
// same write rather than by a new one; then it lingers (see Linger).
func (p *Pump) run() {
	var kick chan struct{}
	var timer *time.Timer
	yielded := false
	for {
		p.mu.Lock()
		switch {
		case p.stopped:
			p.exit(timer)
			return
		case p.again:
			yielded = false
			p.again = false
			p.mu.Unlock()
			p.round()
			continue
		case !yielded:
			p.mu.Unlock()
			yielded = true
			runtime.Gosched()
			continue
		}
		if kick == nil {
			kick = make(chan struct{}, 1)
			timer = time.NewTimer(Linger)
		} else {
			timer.Reset(Linger)
		}
		p.kick = kick
		p.mu.Unlock()
		kicked := false
		select {
		case <-kick:
			kicked = true
		case <-timer.C:
		}
		p.mu.Lock()
		if p.kick == nil {
			// A waker took kick: unless it was received above, its send
			// is made or about to be (kick has room for it); take it, so
			// that kick is empty again.
			p.mu.Unlock()
			if !kicked {
				<-kick
			}
			continue
		}
		p.kick = nil
		if !p.again && !p.stopped {
			p.exit(timer)
			return
		}
		p.mu.Unlock()
	}
}

// exit ends the goroutine: no round runs any more until the next Wake, and
// Stop's idle function, if any, is called. p.mu is held; exit unlocks it.
func (p *Pump) exit(timer *time.Timer) {
	p.running = false
	p.alone = false // the next Wake goes back to the Pool, if any
	f := p.onIdle
	p.onIdle = nil
	p.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	if f != nil {
		f()
	}
}

// Stop makes sure no round starts any more, and calls idle (if not nil)
// once no round runs: at once when none does, or on the pump's goroutine
// when the running round returns. Only the first Stop counts. It may be
// called from a round.
func (p *Pump) Stop(idle func()) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	if p.running {
		p.onIdle = idle
		k := p.kick
		p.kick = nil
		p.mu.Unlock()
		if k != nil {
			k <- struct{}{}
		}
		return
	}
	p.mu.Unlock()
	if idle != nil {
		idle()
	}
}
