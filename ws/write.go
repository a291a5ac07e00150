package ws

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/realtime-go/realtime/internal/hub"
)

// writeBufferSize is the size of the pooled buffers a writer borrows for one
// batch. A batch that fits goes out in one write; larger messages are
// written straight from their own storage.
const writeBufferSize = 32 << 10

// maxSpareQueue is the largest queue storage a connection keeps for reuse
// between batches; larger storage goes back to the garbage collector so an
// idle connection stays small.
const maxSpareQueue = 16

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}

// ErrInvalidUTF8 is returned by Send for a text message that is not UTF-8.
var ErrInvalidUTF8 = errors.New("ws: text message is not UTF-8")

// Send queues a message for the connection's writer and returns without
// waiting for the peer. It is safe from any goroutine; messages are written
// in the order of the Send calls that returned nil. data is copied. A Send
// that finds SendQueueSize messages waiting closes the connection with
// StatusSlowConsumer and returns an error wrapping ErrSlowConsumer. After a
// close, Send returns the connection's error. On a connection that speaks
// Subprotocol the message is wrapped as a direct message.
func (c *Conn) Send(typ MessageType, data []byte) error { return c.send(typ, data, false) }

// send is Send; isJSON says that text data is JSON (see directFrame).
func (c *Conn) send(typ MessageType, data []byte, isJSON bool) error {
	switch typ {
	case MessageText:
		if !utf8.Valid(data) {
			return ErrInvalidUTF8
		}
	case MessageBinary:
	default:
		return fmt.Errorf("ws: cannot send a message of type %v", typ)
	}
	f := c.directFrame(typ, data, isJSON)
	c.mu.Lock()
	if c.closeFrame != nil || c.ended {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if len(c.queue) >= c.opts.SendQueueSize {
		c.mu.Unlock()
		err := c.slow("send queue full")
		return err
	}
	c.queue = append(c.queue, f)
	wake := len(c.queue) == 1
	c.mu.Unlock()
	if wake {
		c.kick()
	}
	return nil
}

// queueControl queues a ping or pong with payload p, ignoring the queue
// bound: control frames are few and small.
func (c *Conn) queueControl(op byte, p []byte) {
	f := appendFrame(make([]byte, 0, 2+len(p)), op, p)
	c.mu.Lock()
	if c.closeFrame != nil || c.ended {
		c.mu.Unlock()
		return
	}
	c.queue = append(c.queue, f)
	c.mu.Unlock()
	c.kick()
}

// slow closes a peer that cannot keep up with StatusSlowConsumer, dropping
// what waits for it, and counts it.
func (c *Conn) slow(why string) error {
	ce, cause := slowError(why)
	if c.queueCloseCause(ce, cause, true) && c.hub != nil {
		c.hub.slowClosed.Add(1)
	}
	return cause
}

// slowError returns the close of a slow consumer, and the connection's
// error for it, which wraps both the close and ErrSlowConsumer.
func slowError(why string) (*CloseError, error) {
	ce := &CloseError{Code: StatusSlowConsumer, Reason: "slow consumer: " + why, Local: true}
	return ce, fmt.Errorf("%w: %w", ce, ErrSlowConsumer)
}

// kick makes sure a writer runs to write what is waiting: it starts one
// unless one runs already, which then goes round once more. It is safe from
// any goroutine, and the hub calls it when messages start waiting for the
// connection's subscriber or the subscriber ends. An idle connection has
// no writer goroutine.
func (c *Conn) kick() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.again = true
	if c.writing {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	go c.writeRun()
}

// writeRun writes batches until nothing is left, then exits. Before it
// exits it yields once, so that a burst of messages being published is
// written by one goroutine rather than one per message.
func (c *Conn) writeRun() {
	yielded := false
	for {
		c.mu.Lock()
		if !c.ended && !c.again && !yielded {
			c.mu.Unlock()
			yielded = true
			runtime.Gosched()
			continue
		}
		if c.ended || !c.again {
			c.writing = false
			c.signalLocked()
			c.mu.Unlock()
			return
		}
		yielded = false
		c.again = false
		// A connection that is closing already needs no word of its
		// subscriber's end: subscriberEnded would only queue a close.
		// Err, unlike Done, makes no channel for a connection that
		// never waits on one.
		checkSub := c.sub != nil && c.closeFrame == nil
		c.mu.Unlock()
		if checkSub {
			if err := c.sub.Err(); err != nil {
				c.subscriberEnded(err)
			}
		}
		c.flush()
	}
}

// flush writes everything waiting in one batch: the hub's gap notice and
// replay, queued frames, the subscriber's messages, then the close frame.
func (c *Conn) flush() {
	c.mu.Lock()
	if c.ended || c.wroteClose {
		c.mu.Unlock()
		return
	}
	msgs := c.takeBuf
	c.takeBuf = nil
	q := c.queue
	c.queue, c.spare = c.spare, nil
	initial := c.initial
	c.initial = nil
	cf := c.closeFrame
	drop := c.dropData
	c.mu.Unlock()

	msgs = msgs[:0]
	if c.sub != nil && !drop {
		msgs = c.sub.Take(msgs)
	}
	if len(initial) == 0 && len(q) == 0 && len(msgs) == 0 && cf == nil {
		c.keep(q, msgs)
		return
	}
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(c.nc)
	c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	for _, f := range initial {
		bw.Write(f)
	}
	for _, f := range q {
		bw.Write(f)
	}
	for _, m := range msgs {
		bw.Write(m.Data)
	}
	if cf != nil {
		bw.Write(cf)
	}
	err := bw.Flush()
	bw.Reset(nil)
	writerPool.Put(bw)
	c.keep(q, msgs)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if c.hub != nil {
				c.hub.slowClosed.Add(1)
			}
			_, err = slowError("write deadline exceeded")
		} else {
			err = fmt.Errorf("%w: write: %w", &CloseError{Code: StatusAbnormalClosure, Reason: "connection lost"}, err)
		}
		c.finishWriting()
		c.shutdown(err)
		return
	}
	if cf != nil {
		c.finishWriting()
		if drop {
			// A slow or silent peer gets no closing handshake.
			c.shutdown(nil)
		}
	}
}

// finishWriting records that nothing more will be written.
func (c *Conn) finishWriting() {
	c.mu.Lock()
	c.wroteClose = true
	c.signalLocked()
	c.mu.Unlock()
}

// keep keeps the storage of q and msgs for the next batch unless it is
// large, so that a busy connection allocates nothing per batch and an idle
// one holds little.
func (c *Conn) keep(q [][]byte, msgs []*hub.Message) {
	clear(q)
	clear(msgs)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	if cap(q) > 0 && cap(q) <= maxSpareQueue && c.spare == nil {
		c.spare = q[:0]
	}
	if cap(msgs) > 0 && cap(msgs) <= 4*maxSpareQueue {
		c.takeBuf = msgs[:0]
	}
}

// subscriberEnded closes the connection when the hub ended its subscriber
// with err.
func (c *Conn) subscriberEnded(err error) {
	switch {
	case errors.Is(err, hub.ErrSlowSubscriber):
		c.slow("hub queue full")
	case errors.Is(err, hub.ErrClosed):
		c.queueClose(&CloseError{Code: StatusGoingAway, Reason: "server shutting down", Local: true}, false)
	}
}
