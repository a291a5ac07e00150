package sse

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/netopt"
	"github.com/realtime-go/realtime/internal/pump"
)

// A stream is one event stream. Its writer is a pump: a goroutine that
// runs only while there is something to write, woken by the hub when
// events arrive, by the heartbeat timer when the stream has been silent,
// and by Shutdown. Each round takes everything after the stream's position
// in its topics' history and writes it at once, through a sink:
//
//   - By default the stream lives in its handler: the handler's goroutine
//     waits for the stream to end while the writer writes through a
//     Writer, so middleware, access logs, request contexts and
//     http.Server see the stream.
//   - With BrokerOptions.TakeOver, an HTTP/1.x stream is taken over from
//     net/http once its request is accepted: the Broker hijacks the
//     connection, writes the response head itself (no chunked encoding:
//     the body ends when the connection closes) and returns from
//     ServeHTTP. What stays for an idle stream is the socket, the
//     subscription, a heartbeat timer and one goroutine parked in a read,
//     which notices at once when the client goes away.
type stream struct {
	b      *Broker
	sub    *hub.Subscriber
	out    sink
	r      *http.Request // the stream's request, for OnClose
	remote string
	timer  *time.Timer   // heartbeat; nil without heartbeats
	idle   chan struct{} // closed once the stream is over and its writer stopped
	pump   pump.Pump
	early  atomic.Int32 // how start and wake meet: earlyIdle and so on

	mu     sync.Mutex
	beat   bool  // a heartbeat is due
	stop   bool  // Shutdown: write what waits, then end
	ended  bool  // the stream is over
	endErr error // why it ended
	failed bool  // a write failed

	// Only the writer's rounds touch msgs and opened, one round at a time.
	msgs   []*hub.Message
	opened bool // the sink's open ran
}

// A sink writes a stream's bytes to its client.
type sink interface {
	// open sends the response head, if it was not sent yet; the first
	// round calls it.
	open() error
	// send writes parts, in order, as one batch under the write deadline.
	send(parts [][]byte) error
	// close interrupts a send in progress, if the sink can.
	close()
}

// keepMsgs is the most messages a stream keeps room for between rounds.
const keepMsgs = 64

// heartbeatComment is the comment sent on a silent stream.
var heartbeatComment = []byte(":\n")

func (b *Broker) newStream(sub *hub.Subscriber, out sink, r *http.Request) *stream {
	s := &stream{b: b, sub: sub, out: out, r: r, remote: r.RemoteAddr, idle: make(chan struct{})}
	s.pump.InitIn(b.writers, s.round)
	return s
}

// start arms the heartbeat, registers s with the Broker and hands its
// wake-ups to the hub, which wakes it at once for what waits already (a
// resume's gap and replay). It sends the response head on the caller's
// goroutine and, with takeHere, takes what waits there too, so that a
// stream opened with nothing waiting starts no writer goroutine. takeHere
// must be false where a Take may call the HistorySource (a resume, or any
// stream of a Broker with one), which waits for the client: only the
// handler notices that the client went away.
func (s *stream) start(takeHere bool) {
	if s.b.opts.Heartbeat > 0 {
		s.timer = time.AfterFunc(s.b.opts.Heartbeat, s.heartbeat)
	}
	s.b.register(s)
	s.sub.Notify(s.wake)
	// Until early is earlyStarted, wake-ups are noted, not passed to the
	// writer, and the rounds they ask for run here.
	if takeHere {
		for s.early.CompareAndSwap(earlyWoken, earlyIdle) && !s.over() {
			s.round()
		}
		s.pump.FirstRoundsRan()
	} else if !s.opened {
		s.opened = true
		if err := s.out.open(); err != nil {
			s.end(err, true)
		}
	}
	if s.early.Swap(earlyStarted) == earlyWoken {
		s.pump.Wake()
	}
}

// over reports whether the stream ended.
func (s *stream) over() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// The states of stream.early.
const (
	earlyIdle    = iota // starting, not woken since the last round
	earlyWoken          // starting, woken: start goes round again, or wakes the writer
	earlyStarted        // started: a wake-up wakes the writer
)

// wake makes sure a round runs after this call: the writer's, once the
// stream has started.
func (s *stream) wake() {
	for {
		switch s.early.Load() {
		case earlyStarted:
			s.pump.Wake()
			return
		case earlyWoken:
			return
		}
		if s.early.CompareAndSwap(earlyIdle, earlyWoken) {
			return
		}
	}
}

func (s *stream) heartbeat() {
	s.mu.Lock()
	s.beat = true
	s.mu.Unlock()
	s.wake()
}

// shutdown asks the stream to write what waits for it and end.
func (s *stream) shutdown() {
	s.mu.Lock()
	s.stop = true
	s.mu.Unlock()
	s.wake()
}

// round writes everything after the stream's position, a heartbeat if one
// is due and nothing else was written, and ends the stream when asked to
// or when its subscription ended.
func (s *stream) round() {
	if !s.opened {
		s.opened = true
		if err := s.out.open(); err != nil {
			s.end(err, true)
			return
		}
	}
	s.mu.Lock()
	beat, stop := s.beat, s.stop
	s.beat = false
	s.mu.Unlock()
	for {
		msgs, gap := s.sub.Take(s.msgs)
		s.msgs = msgs
		if len(msgs) == 0 && gap == nil {
			break
		}
		pp := pump.GetParts()
		parts := *pp
		if gap != nil {
			ev := gapEvent(gap, len(msgs) == 0)
			parts = append(parts, appendEvent(nil, &ev))
		}
		for _, m := range msgs {
			parts = append(parts, m.Data)
		}
		err := s.send(parts)
		*pp = parts
		pump.PutParts(pp)
		if err != nil {
			s.end(err, true)
			return
		}
		beat = false
	}
	if cap(s.msgs) > keepMsgs {
		s.msgs = nil
	}
	if beat {
		if err := s.send([][]byte{heartbeatComment}); err != nil {
			s.end(err, true)
			return
		}
	}
	switch {
	case stop:
		s.end(ErrClosed, false)
	case errors.Is(s.sub.Err(), hub.ErrClosed):
		s.end(ErrClosed, false) // the hub closed; stopWriter ends it otherwise
	}
}

// send writes parts and puts the next heartbeat off.
func (s *stream) send(parts [][]byte) error {
	if err := s.out.send(parts); err != nil {
		return err
	}
	if s.timer != nil {
		s.timer.Reset(s.b.opts.Heartbeat)
	}
	return nil
}

// end marks the stream over, stops its writer and interrupts a write in
// progress. Only the first call counts.
func (s *stream) end(err error, failed bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.endErr, s.failed = true, err, failed
	s.mu.Unlock()
	s.stopWriter()
	s.out.close()
}

// stopWriter makes sure no round starts any more; s.idle is closed once
// none runs. It ends the subscription too, so that a round waiting on the
// HistorySource (whose context ends with the subscription) returns.
func (s *stream) stopWriter() {
	s.pump.Stop(func() { close(s.idle) })
	s.sub.Close()
}

// finish releases what the stream held, once it is idle, logs its end and
// calls OnClose.
func (s *stream) finish() {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.sub.Close()
	s.b.unregister(s)
	s.mu.Lock()
	err, failed := s.endErr, s.failed
	s.mu.Unlock()
	s.b.ended(s.remote, failed, err)
	s.b.onClose(s.r, closeReason(err, failed))
}

// writerSink sends through a Writer, for streams served by their handler.
// Its open flushes the response head (and the retry field) from the
// handshake's goroutine (see start): the handler's goroutine, which waits for the
// stream to end, never runs net/http's write path, so its stack stays as
// small as it was when the handler was called.
type writerSink struct{ w *Writer }

func (w writerSink) open() error               { return w.w.Flush() }
func (w writerSink) send(parts [][]byte) error { return w.w.send(parts...) }
func (writerSink) close()                      {}

// connSink sends on a taken-over connection.
type connSink struct {
	conn    net.Conn
	timeout time.Duration
	pump    *pump.Pump // the stream's, once it has one: a write that would block leaves the Broker's shared writers first
}

func (c *connSink) send(parts [][]byte) error {
	err := c.pump.WriteParts(c.conn, parts, max(c.timeout, 0))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &writeTimeoutError{err}
	}
	return err
}

func (c *connSink) open() error { return nil } // takeOver wrote the head
func (c *connSink) close()      { c.conn.Close() }

// bodyHeaders describe a response body, as middleware may set them before
// the handler runs (a compressing middleware sets Content-Encoding up
// front): a taken-over stream writes its own plain body and sends none.
var bodyHeaders = []string{
	"Content-Encoding", "Content-Length", "Content-Range", "Transfer-Encoding", "Trailer",
	"Etag", "Last-Modified", "Content-Md5", "Digest", "Content-Digest", "Repr-Digest",
}

// responseHead is the status line of a taken-over stream.
const responseHead = "HTTP/1.1 200 OK\r\n"

// takeOver serves the stream on the hijacked conn: it writes the response
// head and the bytes pending in sw (the retry field), then leaves the
// stream to its writer and a goroutine that waits for the client to go.
func (b *Broker) takeOver(r *http.Request, conn net.Conn, sw *Writer, sub *hub.Subscriber, addr string, takeHere bool) {
	if err := netopt.SetUserTimeout(conn, b.opts.WriteTimeout); err != nil {
		b.log.Warn("sse: cannot bound unacknowledged writes", "remote", r.RemoteAddr, "err", err)
	}
	b.boundKernel(r, conn)
	var head bytes.Buffer
	head.WriteString(responseHead)
	h := sw.w.Header()
	h.Set("Connection", "close")
	for _, k := range bodyHeaders {
		h.Del(k) // the body written here is the plain stream
	}
	h.Write(&head) // the headers set by NewWriter and by any middleware
	head.WriteString("\r\n")
	if sw.buf != nil {
		head.Write(*sw.buf)
	}
	sw.release()
	out := &connSink{conn: conn, timeout: b.opts.WriteTimeout}
	if err := out.send([][]byte{head.Bytes()}); err != nil {
		conn.Close()
		sub.Close()
		b.ended(r.RemoteAddr, true, err)
		b.onClose(r, closeReason(err, true))
		b.leave(addr)
		return
	}
	s := b.newStream(sub, out, r)
	out.pump = &s.pump
	s.start(takeHere)
	go s.own(conn, addr)
}

// own waits until the client goes away or the stream ends, then cleans up.
// Whatever the client sends is read and ignored: an idle stream waits in a
// read of a few bytes, and what a client uploads (a request body, say) is
// read and dropped in chunks of uploadDrainSize, so that its cost follows
// the system calls of large reads, not one per 16 bytes.
func (s *stream) own(conn net.Conn, addr string) {
	var buf [16]byte
	var err error
	for err == nil {
		var n int
		n, err = conn.Read(buf[:])
		if n > 0 && err == nil {
			err = drainUpload(conn)
		}
	}
	if errors.Is(err, syscall.ETIMEDOUT) {
		// The kernel dropped the connection because data sent to the
		// client stayed unacknowledged for WriteTimeout (the TCP user
		// timeout): a write that failed, whichever side saw it first.
		s.end(&writeTimeoutError{err}, true)
	} else {
		s.end(ErrClientGone, false)
	}
	<-s.idle
	s.finish()
	s.b.leave(addr)
}

// uploadDrainSize is the size of the reads that drop what a client of a
// taken-over stream uploads.
const uploadDrainSize = 32 << 10

// drainBufs holds the buffers of drainUpload, only while it reads.
var drainBufs = sync.Pool{New: func() any { return new([uploadDrainSize]byte) }}

// drainUpload reads and drops, in reads of uploadDrainSize bytes, what conn
// received and the stream did not read, without waiting for more: the
// caller waits again in a small read. Where the connection cannot be read
// that way (TLS, systems other than Linux) it does nothing.
func drainUpload(conn net.Conn) error {
	b := drainBufs.Get().(*[uploadDrainSize]byte)
	defer drainBufs.Put(b)
	for {
		n, err := netopt.ReadAvailable(conn, b[:])
		if errors.Is(err, errors.ErrUnsupported) || (err == nil && n < len(b)) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// writeTimeoutError says a write did not finish within WriteTimeout.
type writeTimeoutError struct{ err error }

func (e *writeTimeoutError) Error() string {
	return "sse: write timed out: client not reading: " + e.err.Error()
}
func (e *writeTimeoutError) Unwrap() error { return e.err }
