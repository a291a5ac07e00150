package reliability

import (
	"sync"
	"sync/atomic"
	"time"
)

// A publisher publishes the messages 0, 1, 2, ... of one stream at a
// steady pace through a function that a test may swap, as when a server
// restarts: a message that fails is published again through the next
// function.
type publisher struct {
	mu      sync.Mutex
	publish func(seq int) error
	swapped chan struct{} // closed when publish is replaced

	sent atomic.Int64 // messages published
}

func newPublisher(f func(seq int) error) *publisher {
	return &publisher{publish: f, swapped: make(chan struct{})}
}

// set replaces the publishing function.
func (p *publisher) set(f func(seq int) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.publish = f
	close(p.swapped)
	p.swapped = make(chan struct{})
}

func (p *publisher) current() (func(int) error, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.publish, p.swapped
}

// run publishes n messages, one every pace, numbered on from the last
// message published, and returns the error of a message that could not be
// published within waitTimeout. It returns early when stop is closed.
func (p *publisher) run(n int, pace time.Duration, stop <-chan struct{}) error {
	tick := time.NewTicker(pace)
	defer tick.Stop()
	for range n {
		seq := int(p.sent.Load())
		for {
			f, swapped := p.current()
			err := f(seq)
			if err == nil {
				break
			}
			select {
			case <-swapped:
			case <-stop:
				return err
			case <-time.After(waitTimeout):
				return err
			}
		}
		p.sent.Add(1)
		select {
		case <-tick.C:
		case <-stop:
			return nil
		}
	}
	return nil
}
