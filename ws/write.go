package ws

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	"github.com/realtime-go/realtime/internal/pump"
)

// keepParts is the most frames and messages a connection keeps storage for
// between batches; larger storage goes back to the garbage collector so an
// idle connection stays small.
const keepParts = 64

// Errors of Send and Write.
var (
	// errInvalidUTF8 is returned for a text message that is not UTF-8.
	errInvalidUTF8 = errors.New("ws: text message is not UTF-8")

	// ErrSendBufferFull is returned by Send when the frames waiting for
	// the peer would exceed AcceptOptions.SendBuffer with this message.
	// The connection stays open: drop the message, wait for room with
	// Write, or close the connection.
	ErrSendBufferFull = errors.New("ws: send buffer full: the peer is not reading as fast as messages are sent")
)

// Send queues a message for the connection's writer and returns without
// waiting for the peer. It is safe from any goroutine; messages are written
// in the order of the Send and Write calls that returned nil. data is
// copied. When the frames waiting would exceed AcceptOptions.SendBuffer
// bytes with this one, Send returns an error wrapping ErrSendBufferFull and
// queues nothing; a message larger than SendBuffer is queued when nothing
// else waits. After a close, Send returns an error wrapping ErrClosed.
func (c *Conn) Send(typ MessageType, data []byte) error {
	f, err := c.dataFrame(typ, data)
	if err != nil {
		return err
	}
	_, err = c.enqueue(f)
	return err
}

// Write queues a message as Send does, but when the send buffer is full it
// waits for room until ctx is done, and then returns ctx's error wrapped.
// A server that echoes what it reads with Write stops reading while its
// peer does not read, so the peer's own socket holds back what it sends.
func (c *Conn) Write(ctx context.Context, typ MessageType, data []byte) error {
	f, err := c.dataFrame(typ, data)
	if err != nil {
		return err
	}
	for {
		room, err := c.enqueue(f)
		if room == nil {
			return err
		}
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("ws: write: %w", ctx.Err())
		}
	}
}

// dataFrame checks a message and returns its frame.
func (c *Conn) dataFrame(typ MessageType, data []byte) ([]byte, error) {
	if err := checkMessage(typ, data); err != nil {
		return nil, err
	}
	return c.messageFrame(byte(typ), data), nil
}

// checkMessage checks that typ is a message type and that text is UTF-8.
func checkMessage(typ MessageType, data []byte) error {
	switch typ {
	case MessageText:
		if !utf8.Valid(data) {
			return errInvalidUTF8
		}
	case MessageBinary:
	default:
		return fmt.Errorf("ws: cannot send a message of type %v", typ)
	}
	return nil
}

// enqueue queues frame f unless the send buffer has no room for it; then
// it returns a channel closed once there may be room, and an error
// wrapping ErrSendBufferFull.
func (c *Conn) enqueue(f []byte) (room <-chan struct{}, err error) {
	c.mu.Lock()
	if c.closeFrame != nil || c.ended {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if c.queued > 0 && c.queued+len(f) > c.opts.SendBuffer {
		if c.room == nil {
			c.room = make(chan struct{})
		}
		room, queued := c.room, c.queued
		c.mu.Unlock()
		return room, fmt.Errorf("%w (%d bytes waiting, at most %d)", ErrSendBufferFull, queued, c.opts.SendBuffer)
	}
	c.queue = append(c.queue, f)
	c.queued += len(f)
	wake := len(c.queue) == 1
	c.mu.Unlock()
	if wake {
		c.pump.Wake()
	}
	return nil, nil
}

// freeRoomLocked wakes the Writes waiting for room. c.mu is held.
func (c *Conn) freeRoomLocked() {
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
}

// maxPendingPongs bounds the bytes of pongs waiting to be written: 32
// pongs of the largest ping. Past it, earlier pongs are dropped and only
// the last ping is answered, as RFC 6455 (5.5.3) allows, so a peer that
// pings without reading makes the connection hold this much at most.
const maxPendingPongs = 32 * (2 + maxControlPayload)

// queuePong answers a ping with payload p.
func (c *Conn) queuePong(p []byte) {
	c.mu.Lock()
	if c.closeFrame != nil || c.ended {
		c.mu.Unlock()
		return
	}
	if len(c.pong)+2+len(p) > maxPendingPongs {
		c.pong = c.pong[:0]
	}
	c.pong = c.appendFrame(c.pong, opPong, p)
	c.mu.Unlock()
	c.pump.Wake()
}

// queuePing asks the writer to ping the peer with payload p: the
// keep-alive's (empty), or one of Ping's, each of which waits for its pong.
func (c *Conn) queuePing(p []byte) {
	c.mu.Lock()
	if c.closeFrame != nil || c.ended {
		c.mu.Unlock()
		return
	}
	c.ping = c.appendFrame(c.ping, opPing, p)
	c.mu.Unlock()
	c.pump.Wake()
}

// slowError returns the close of a slow consumer, and the connection's
// error for it, which wraps both the close and ErrSlowConsumer.
func slowError(why string) (*CloseError, error) {
	ce := &CloseError{Code: StatusSlowConsumer, Reason: "slow consumer: " + why, local: true}
	return ce, fmt.Errorf("%w: %w", ce, ErrSlowConsumer)
}

// A feed gives a connection's writer frames besides the connection's own:
// a Member's hub messages and gap notices. The writer calls it from one
// goroutine at a time; holding may be called from any.
type feed interface {
	// notify arranges for wake to be called whenever the feed has frames
	// to give, and once at once.
	notify(wake func())
	// holding reports whether frames queued on the connection must wait
	// behind the feed's: a resume's replay goes first.
	holding() bool
	// take appends the frames due now to parts and reports whether the
	// writer should ask again at once.
	take(parts [][]byte) ([][]byte, bool)
	// written tells the feed that the batch of its last take was written,
	// or failed with err: the feed may reuse its storage.
	written(err error)
	// ended returns the close to send when the feed ended the connection
	// (the hub shut down), or nil.
	ended() *CloseError
	// close releases the feed once the connection has ended.
	close()
}

// round is the connection's writer: the pump runs it while something waits
// to be written (sends, control frames, the feed's frames, the close
// frame). It writes batches until the feed has nothing more.
func (c *Conn) round() {
	c.mu.Lock()
	// A connection that is closing already needs no word of its feed's
	// end: it would only queue a close.
	check := c.feed != nil && c.closeFrame == nil
	c.mu.Unlock()
	if check {
		if ce := c.feed.ended(); ce != nil {
			c.queueClose(ce, false)
		}
	}
	for c.flush() {
	}
}

// flush writes everything waiting in one batch: control frames, queued
// frames, the feed's frames, then the close frame. While the feed holds
// the queue (a Member's resume is being replayed), its frames go first and
// queued frames wait for the hold's end, so that a client sees what it
// missed before anything sent since. It reports whether the feed had
// frames, so that the writer asks again.
func (c *Conn) flush() (more bool) {
	c.mu.Lock()
	holding := c.feed != nil && c.feed.holding()
	if c.ended || c.wroteClose {
		c.mu.Unlock()
		return false
	}
	pp := pump.GetParts()
	parts := *pp
	if c.pong != nil {
		parts = append(parts, c.pong)
		c.pong = nil
	}
	pinged := c.ping != nil
	if pinged {
		parts = append(parts, c.ping)
		c.ping = nil
	}
	var q [][]byte
	var queued int
	if !holding {
		parts, q, queued = c.takeQueueLocked(parts)
	}
	tookQueue := !holding
	cf := c.closeFrame
	drop := c.dropData
	c.mu.Unlock()

	fed := false
	if c.feed != nil && !drop {
		n := len(parts)
		parts, more = c.feed.take(parts)
		fed = true
		more = more || len(parts) > n
	}
	if holding && !c.feed.holding() {
		c.mu.Lock()
		parts, q, queued = c.takeQueueLocked(parts)
		c.mu.Unlock()
		tookQueue = true
	}
	switch {
	case cf == nil:
	case tookQueue || drop:
		parts = append(parts, cf)
	default:
		cf, more = nil, true // after the rest of the replay and the queue
	}
	var err error
	if len(parts) > 0 {
		err = c.writeParts(parts)
	}
	*pp = parts
	pump.PutParts(pp)
	if fed {
		c.feed.written(err)
	}
	c.keep(q, queued)
	if pinged && err == nil {
		c.pingWrote.Store(time.Now().UnixNano())
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_, err = slowError("write deadline exceeded")
		} else {
			err = fmt.Errorf("%w: write: %w", &CloseError{Code: statusAbnormalClosure, Reason: "connection lost"}, err)
		}
		c.finishWriting()
		c.shutdown(err)
		return false
	}
	if cf != nil {
		c.closeWritten()
		if drop {
			// A slow or silent peer gets no closing handshake.
			c.shutdown(nil)
		}
		return false
	}
	return more
}

// takeQueueLocked appends the queued frames to parts and hands them over
// to the writer: it returns the queue's storage and its bytes, for keep.
// c.mu is held.
func (c *Conn) takeQueueLocked(parts [][]byte) ([][]byte, [][]byte, int) {
	q, queued := c.queue, c.queued
	c.queue, c.spare = c.spare, nil
	return append(parts, q...), q, queued
}

// writeParts writes parts in one batch under the write deadline (see
// pump.Pump.WriteParts: a write that would block leaves the Hub's shared
// writers first).
func (c *Conn) writeParts(parts [][]byte) error {
	return c.pump.WriteParts(c.nc, parts, max(c.opts.WriteTimeout, 0))
}

// keep keeps the storage of a batch's queue for the next one unless it
// is large, so that a busy connection allocates nothing per batch and an
// idle one holds little; and frees the send buffer of the queued frames
// written.
func (c *Conn) keep(q [][]byte, queued int) {
	clear(q)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued -= queued
	c.freeRoomLocked()
	if c.ended {
		return
	}
	if cap(q) > 0 && cap(q) <= keepParts && c.spare == nil {
		c.spare = q[:0]
	}
}

// closeWritten records that the close frame was written, and starts the
// closing handshake's timeout: the wait for the peer's close frame. It
// counts from the write, not from the close, so that the data queued
// before the close is written however late the writer runs on a busy
// machine; the writes themselves are bounded by WriteTimeout.
func (c *Conn) closeWritten() {
	c.mu.Lock()
	c.wroteClose = true
	c.armCloseTimerLocked()
	c.signalLocked()
	c.mu.Unlock()
}

// finishWriting records that nothing more will be written.
func (c *Conn) finishWriting() {
	c.mu.Lock()
	c.wroteClose = true
	c.signalLocked()
	c.mu.Unlock()
}
