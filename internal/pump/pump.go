// Package pump runs a connection's writer on a goroutine of its own only
// while there is something to write. It is the writer loop that every
// stream of package sse and every connection of package ws share: an idle
// connection holds no writer goroutine, a burst is written by one goroutine
// in as few writes as it takes, and stopping waits for no one.
package pump

import (
	"runtime"
	"sync"
)

// A Pump calls its round function on a goroutine it starts on demand. The
// zero value is not usable: call Init first.
type Pump struct {
	round func() // writes what waits; runs on the pump's goroutine only
	start func() // p.run, bound once: "go p.run()" would allocate each time

	mu      sync.Mutex
	running bool   // a goroutine runs rounds
	again   bool   // another round is due
	stopped bool   // no round starts any more
	onIdle  func() // from Stop, for the goroutine to call when it exits
}

// Init sets the function that writes what waits for the connection. Each
// Wake makes at least one call of round start after it; calls never
// overlap.
func (p *Pump) Init(round func()) {
	p.round = round
	p.start = p.run
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
		p.mu.Unlock()
		return
	}
	p.running = true
	p.mu.Unlock()
	go p.start()
}

// run calls round while rounds are due. Before it exits it yields once, so
// that messages still being published are written by this goroutine in the
// same write rather than by a new one.
func (p *Pump) run() {
	yielded := false
	for {
		p.mu.Lock()
		if !p.stopped && !p.again && !yielded {
			p.mu.Unlock()
			yielded = true
			runtime.Gosched()
			continue
		}
		if p.stopped || !p.again {
			p.running = false
			f := p.onIdle
			p.onIdle = nil
			p.mu.Unlock()
			if f != nil {
				f()
			}
			return
		}
		yielded = false
		p.again = false
		p.mu.Unlock()
		p.round()
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
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if idle != nil {
		idle()
	}
}
