package ws

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
)

// pingWaiters are the Ping calls of a connection waiting for their pong.
// The zero value is ready; it holds no map until a Ping.
type pingWaiters struct {
	mu   sync.Mutex
	next uint64
	wait map[uint64]chan struct{}
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
// connection closes. The pong is seen by the connection's reader, so
// another goroutine must be in Read meanwhile (a Hub's connections and a
// Subscriber's current one always are). The keep-alive pings by itself;
// Ping is for a caller that wants to know now that the peer answers.
func (c *Conn) Ping(ctx context.Context) error {
	n, payload, ch := c.pings.add()
	defer c.pings.remove(n)
	c.queuePing(payload)
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ws: ping: %w", ctx.Err())
	case <-c.Done():
		return fmt.Errorf("ws: ping: %w: %w", ErrClosed, c.Err())
	}
}
