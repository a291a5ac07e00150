package ws

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realtime-go/realtime/internal/pump"
)

// A MessageType says whether a message is text (UTF-8) or binary.
type MessageType int

// Message types, with the values of their opcodes.
const (
	MessageText   MessageType = opText
	MessageBinary MessageType = opBinary
)

// A Conn is one WebSocket connection and nothing more: messages read and
// written, pings, the closing handshake, the subprotocol and a context.
// It is accepted (Accept, or a Hub, whose Member holds it) or dialed
// (Dial, a Subscriber; see Dial for the client role). Send, Write, Close,
// CloseNow, Ping and the accessors are safe from any goroutine; Read is
// for one goroutine at a time (a Conn of a Hub is read by the Hub).
//
// Every frame sent goes through the connection's writer: a goroutine that
// runs only while something waits to be written (sends, control frames, a
// Member's hub messages), takes all of it, writes it in one system call
// under a write deadline, and closes the connection when the peer does not
// take it within WriteTimeout. Each frame is built once, in the form it
// goes out in (compressed or not, masked on a client's connection). What
// waits besides hub messages is bounded by AcceptOptions.SendBuffer bytes;
// hub messages are read from the hub's shared history and cost the
// connection nothing while they wait. An idle connection holds one goroutine, its reader, and about
// 5 KiB in all. Reading assembles fragments, answers pings, checks RFC 6455
// and fails the connection with the right close code on any violation.
type Conn struct {
	nc          net.Conn
	br          *bufio.Reader // buffers the reads of our frame reader (read.go)
	subprotocol string
	client      bool // the client side of the connection (Dial): frames sent are masked, frames read must not be
	opts        *AcceptOptions
	readLimit   atomic.Int64
	lastSeen    atomic.Int64 // unix nanoseconds of the last frame read
	pings       pingWaiters  // Ping calls waiting for their pong

	// ctx is the connection's context (see Context): base, or one that
	// SetContext made from it. base ends when the connection does.
	ctx    atomic.Pointer[context.Context]
	base   context.Context
	cancel context.CancelCauseFunc

	addr string // the peer's address, for the inflate credit (a Hub's: ClientAddr's, for MaxClientsPerAddr too)
	feed feed   // the frames of a Member's hub, or nil

	compress bool  // permessage-deflate was negotiated, see deflate.go
	window   uint8 // with compress: the window bits the peer allows this side (server_max_window_bits for a server, client_max_window_bits for a client)

	readMu  sync.Mutex // one Read at a time
	readErr error      // guarded by readMu: the error every later Read returns
	// clientCredit is the inflate credit of a client's connection, made
	// on first use; guarded by readMu.
	clientCredit *inflateCredit
	hdr          [14]byte // guarded by readMu

	pump pump.Pump // runs c.round while something waits to be written

	mu         sync.Mutex
	writerIdle bool          // the writer is stopped and no round runs
	wroteClose bool          // the close frame went out, or writing failed: nothing more is written
	queue      [][]byte      // frames of Send and Write waiting for the writer
	queued     int           // bytes of queue, and of the frames of it being written
	room       chan struct{} // closed when queued bytes were written: Write waits on it
	spare      [][]byte      // the queue's previous storage, for reuse
	pong       []byte        // the pong frames due, at most maxPendingPongs bytes
	ping       []byte        // the ping frames due
	closeFrame []byte        // the close frame, once one was queued: no more data is queued after it
	dropData   bool          // the close is urgent: queued data is discarded
	ended      bool          // the TCP connection was closed
	err        error         // why the connection ended or is ending
	closeTimer *time.Timer   // ends the closing handshake after defaultCloseTimeout (see closeWritten)
	keepAlive  *time.Timer   // pings, see keepalive.go
	pingedAt   int64         // used by the keep-alive timer's function only
	pingLate   bool          // used by the keep-alive timer's function only: its ping was not written by its check
	pingWrote  atomic.Int64  // unix nanoseconds of the last write of a ping

	// Signals, made on first use so that an open connection holds none;
	// signalLocked closes them once their condition holds.
	closeWait chan struct{} // wroteClose || ended
	done      chan struct{} // ended && writerIdle
}

// signalLocked closes the signals whose condition holds now. c.mu is held.
func (c *Conn) signalLocked() {
	if c.closeWait != nil && (c.wroteClose || c.ended) {
		closeOnce(c.closeWait)
	}
	if c.done != nil && c.ended && c.writerIdle {
		closeOnce(c.done)
	}
}

// closeOnce closes ch unless it is closed already. c.mu is held, so no
// other goroutine closes ch meanwhile.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// closeWaitChan returns a channel closed once the close frame was written,
// or could not be, or the connection ended.
func (c *Conn) closeWaitChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeWait == nil {
		c.closeWait = make(chan struct{})
		c.signalLocked()
	}
	return c.closeWait
}

// newConn makes a Conn over the connection whose handshake x/net/websocket
// made (Accept or Dial); the Conn reads and writes its frames itself. Its context carries the values of ctx (the handshake request's,
// or Dial's) but not its cancellation.
func newConn(ctx context.Context, nc net.Conn, br *bufio.Reader, subprotocol string, o *AcceptOptions) *Conn {
	c := &Conn{
		nc:          nc,
		br:          br,
		subprotocol: subprotocol,
		opts:        o,
	}
	c.base, c.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	c.ctx.Store(&c.base)
	c.readLimit.Store(o.ReadLimit)
	c.lastSeen.Store(time.Now().UnixNano())
	c.pump.Init(c.round)
	return c
}

// start arms the keep-alive and writes what waits already (a Member's gap
// notice and replay, or what was sent before). From then on a writer
// goroutine runs only while there is something to write.
func (c *Conn) start() {
	c.startKeepAlive()
	if c.feed != nil {
		c.feed.notify(c.pump.Wake) // wakes at once
		return
	}
	c.pump.Wake()
}

// writerStopped records that the writer will write no more.
func (c *Conn) writerStopped() {
	c.mu.Lock()
	c.writerIdle = true
	c.signalLocked()
	c.mu.Unlock()
}

// Subprotocol returns the subprotocol chosen in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// setReadLimit sets the largest message Read accepts, in bytes. A message
// over it closes the connection with StatusMessageTooBig.
func (c *Conn) setReadLimit(n int64) { c.readLimit.Store(n) }

// closedChan returns a channel that is closed once the connection is closed and
// no writer runs for it any more.
func (c *Conn) closedChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		c.signalLocked()
	}
	return c.done
}

// Close starts the closing handshake with code and reason: frames already
// queued are written first, then the close frame (each write bounded by
// WriteTimeout), then Close waits for the peer's close frame, at most 5 s,
// and closes the connection. A reason longer than 123 bytes is cut. Close on a connection
// that is closing already waits for it to end and returns nil.
func (c *Conn) Close(code StatusCode, reason string) error {
	if err := c.validateClose(code); err != nil {
		return err
	}
	ce := &CloseError{Code: code, Reason: truncateUTF8(reason, maxReasonLength), local: true}
	if c.queueClose(ce, false) && c.readMu.TryLock() {
		// No one is reading: wait for the peer's answer here.
		if c.readErr == nil {
			c.readErr = c.awaitClose()
		}
		c.readMu.Unlock()
	}
	<-c.closedChan()
	return nil
}

func (c *Conn) validateClose(code StatusCode) error {
	if !validWireCode(code) {
		return fmt.Errorf("ws: close code %d cannot be sent", code)
	}
	return nil
}

// CloseNow closes the connection without a closing handshake.
func (c *Conn) CloseNow() error {
	c.shutdown(ErrClosed)
	<-c.closedChan()
	return nil
}

// queueClose queues the close frame of ce for the writer, after the data
// waiting unless drop is true, and makes ce (or cause, when not nil) the
// connection's error. It reports false when a close was queued already.
func (c *Conn) queueClose(ce *CloseError, drop bool) bool {
	return c.queueCloseCause(ce, ce, drop)
}

func (c *Conn) queueCloseCause(ce *CloseError, cause error, drop bool) bool {
	c.mu.Lock()
	if c.closeFrame != nil || c.ended {
		c.mu.Unlock()
		return false
	}
	if c.err == nil {
		c.err = cause
	}
	if drop {
		c.dropData = true
		c.queue, c.pong, c.ping = nil, nil, nil
	}
	c.freeRoomLocked() // Write waiters see the close
	c.closeFrame = c.encodeClose(ce.Code, ce.Reason)
	if c.opts.WriteTimeout < 0 {
		// No write deadline bounds the writing of the close frame: the
		// closing handshake's timeout does (see closeWritten).
		c.armCloseTimerLocked()
	}
	c.mu.Unlock()
	c.pump.Wake()
	return true
}

// armCloseTimerLocked starts the closing handshake's timeout unless it
// runs. c.mu is held.
func (c *Conn) armCloseTimerLocked() {
	if c.closeTimer == nil && !c.ended {
		c.closeTimer = time.AfterFunc(defaultCloseTimeout, func() { c.shutdown(nil) })
	}
}

// shutdown closes the TCP connection once, making err the connection's
// error unless it has one, and stops the writer and the subscription.
func (c *Conn) shutdown(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.queue, c.spare, c.pong, c.ping = nil, nil, nil, nil
	c.freeRoomLocked()
	if c.closeTimer != nil {
		c.closeTimer.Stop()
	}
	if c.keepAlive != nil {
		c.keepAlive.Stop()
	}
	c.signalLocked()
	cause := c.err
	c.mu.Unlock()
	c.pump.Stop(c.writerStopped)
	c.nc.Close()
	if c.feed != nil {
		c.feed.close()
	}
	if cause == nil {
		cause = ErrClosed
	}
	c.cancel(cause)
}

// cause returns why the connection ended or is ending, or nil while it
// is open.
func (c *Conn) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
