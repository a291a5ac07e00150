package ws

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// pingWaiters are the Ping calls of a connection waiting for their pong.
// The zero value is ready; it holds no map until a Ping.
type pingWaiters struct {
	mu    sync.Mutex
	next  uint64
	wait  map[uint64]chan struct{}
	freed chan struct{} // closed when a Ping stops reading, made on demand
}

// freedChan returns a channel closed once a Ping that reads stops.
func (w *pingWaiters) freedChan() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.freed == nil {
		w.freed = make(chan struct{})
	}
	return w.freed
}

// signalFreed wakes the Pings waiting for the reading one to stop, so that
// one of them reads on for its own pong.
func (w *pingWaiters) signalFreed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.freed != nil {
		close(w.freed)
		w.freed = nil
	}
}

// add registers a ping and returns its payload and the channel closed by
// its pong.
func (w *pingWaiters) add() (uint64, []byte, chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	if w.wait == nil {
		w.wait = make(map[uint64]chan struct{})
	}
	ch := make(chan struct{})
	w.wait[w.next] = ch
	return w.next, binary.BigEndian.AppendUint64(nil, w.next), ch
}

// remove forgets the ping n.
func (w *pingWaiters) remove(n uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.wait, n)
}

// answered is called by the reader for every pong, with its payload.
func (w *pingWaiters) answered(p []byte) {
	if len(p) != 8 {
		return // the keep-alive's, or unsolicited
	}
	n := binary.BigEndian.Uint64(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.wait[n]; ok {
		close(ch)
		delete(w.wait, n)
	}
}

// Ping sends a ping and waits for its pong, until ctx ends or the
// connection closes. While another goroutine is in Read (as a Hub's
// connections and a Subscriber's current one are), that Read sees the
// pong. When none is, Ping reads the control frames that arrive itself,
// answering pings, up to its pong, so that a Ping needs no Read; a Read
// called meanwhile waits for Ping. A message that comes before the pong is
// left for Read: Ping then waits for a Read to take it and see the pong
// after it. The keep-alive pings by itself; Ping is for a caller that
// wants to know now that the peer answers.
func (c *Conn) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ws: ping: %w", err)
	}
	n, payload, ch := c.pings.add()
	defer c.pings.remove(n)
	c.queuePing(payload)
	for {
		freed := c.pings.freedChan() // before TryLock: no stop goes unseen
		if c.readMu.TryLock() {
			messageNext, err := c.readPong(ctx, ch)
			c.readMu.Unlock()
			c.pings.signalFreed()
			if err != nil {
				return err
			}
			if messageNext {
				freed = nil // only a Read can see the pong now
			}
		}
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("ws: ping: %w", ctx.Err())
		case <-c.closedChan():
			return fmt.Errorf("ws: ping: %w: %w", ErrClosed, c.cause())
		case <-freed:
			// Another Ping read up to its own pong: read on for this one.
		}
	}
}

// readPong reads control frames until ch, the pong of a Ping, is closed, a
// message is next (then it reports messageNext), ctx ends, or the
// connection fails. It waits for each control frame whole before it reads
// it, so that ctx's end leaves the connection at a frame's start, fit for
// the next Read. c.readMu is held.
func (c *Conn) readPong(ctx context.Context, ch <-chan struct{}) (messageNext bool, err error) {
	if c.readErr != nil {
		return false, nil // the connection ended: Ping's wait says so
	}
	var mu sync.Mutex
	waiting := true
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if waiting {
			c.nc.SetReadDeadline(time.Unix(1, 0))
		}
	})
	defer func() {
		stop()
		mu.Lock()
		waiting = false
		mu.Unlock()
		c.nc.SetReadDeadline(time.Time{})
	}()
	for {
		select {
		case <-ch:
			return false, nil
		default:
		}
		b, err := c.br.Peek(2)
		if err != nil {
			if ctx.Err() != nil {
				return false, fmt.Errorf("ws: ping: %w", ctx.Err())
			}
			c.readErr = c.readFailed(err)
			return false, nil
		}
		if b[0]&0x08 == 0 { // a data frame: the next Read's
			return true, nil
		}
		// A control frame: wait for all of it, so that readMessage does
		// not block inside it.
		n := 2 + int(b[1]&0x7f)
		if b[1]&0x80 != 0 {
			n += 4 // masked: a server's Ping reads a client's frame
		}
		if b[1]&0x7f <= maxControlPayload {
			if _, err := c.br.Peek(n); err != nil {
				if ctx.Err() != nil {
					return false, fmt.Errorf("ws: ping: %w", ctx.Err())
				}
				c.readErr = c.readFailed(err)
				return false, nil
			}
		}
		if _, _, err := c.readMessage(true); err != nil {
			c.readErr = err
			return false, nil
		}
	}
}
