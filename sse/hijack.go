package sse

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/netopt"
)

// An HTTP/1.x stream is taken over from net/http once its request is
// accepted: the Broker hijacks the connection, writes the response head
// itself (no chunked encoding: the body ends when the connection closes)
// and returns from ServeHTTP. That frees net/http's buffers and its
// goroutine. What stays for an idle stream is the socket, the hub
// subscription, a heartbeat timer and one goroutine parked in a read, which
// notices at once when the client goes away. A writer goroutine runs only
// while there is something to write: the hub wakes it when events start
// waiting (hub.Subscriber.Notify), the heartbeat timer when the stream has
// been silent, Shutdown when the stream must end.
//
// HTTP/2 streams cannot be hijacked; they, and ResponseWriters that offer
// no Hijack (directly or through Unwrap), are served by the handler's own
// goroutine with a Writer instead.

// hijacked is one taken-over stream.
type hijacked struct {
	b      *Broker
	conn   net.Conn
	sub    *hub.Subscriber
	remote string
	timer  *time.Timer // heartbeat; nil without heartbeats
	run    func()      // s.write, made once: "go s.write()" would allocate

	mu      sync.Mutex
	writing bool          // a writer goroutine runs
	again   bool          // the writer must go round once more
	beat    bool          // a heartbeat is due
	stop    bool          // Shutdown: write what waits, then end
	ended   bool          // the stream is over: no writer starts again
	endErr  error         // why it ended
	failed  bool          // a write failed
	idle    chan struct{} // closed when the writer stops after the end

	// msgs is the slice the writer passes to Take, kept between rounds.
	// Only the running writer touches it: writers run one at a time,
	// each started after the last one cleared writing under mu.
	msgs []*hub.Message
}

// responseHead is the status line of a taken-over stream.
const responseHead = "HTTP/1.1 200 OK\r\n"

// takeOver serves the stream on the hijacked conn: it writes the response
// head and the bytes pending in sw (retry, gap, replay), then leaves the
// stream to the hub's wake-ups and returns. On failure it cleans up.
func (b *Broker) takeOver(r *http.Request, conn net.Conn, sw *Writer, sub *hub.Subscriber) {
	s := &hijacked{b: b, conn: conn, sub: sub, remote: r.RemoteAddr}
	if err := netopt.SetUserTimeout(conn, b.opts.WriteTimeout); err != nil && b.log != nil {
		b.log.Warn("sse: cannot bound unacknowledged writes", "remote", s.remote, "err", err)
	}
	s.run = s.write
	var head bytes.Buffer
	head.WriteString(responseHead)
	h := sw.w.Header()
	h.Set("Connection", "close")
	h.Del("Transfer-Encoding")
	h.Write(&head) // the headers set by NewWriter and by any middleware
	head.WriteString("\r\n")
	if sw.buf != nil {
		head.Write(*sw.buf)
	}
	sw.release()
	s.setDeadline()
	if _, err := conn.Write(head.Bytes()); err != nil {
		conn.Close()
		sub.Close()
		b.ended(s.remote, true, err)
		b.leave()
		return
	}
	if b.opts.Heartbeat > 0 {
		s.timer = time.AfterFunc(b.opts.Heartbeat, s.heartbeat)
	}
	sub.Notify(s.wake) // wakes at once if events or the end are waiting
	b.register(s)
	go s.own()
}

func (s *hijacked) setDeadline() {
	if t := s.b.opts.WriteTimeout; t > 0 {
		s.conn.SetWriteDeadline(time.Now().Add(t))
	}
}

// own waits until the client goes away or the stream ends, then cleans up.
// Whatever the client sends is read and ignored.
func (s *hijacked) own() {
	var buf [16]byte
	var err error
	for err == nil {
		_, err = s.conn.Read(buf[:])
	}
	if errors.Is(err, syscall.ETIMEDOUT) {
		// The kernel dropped the connection because data sent to the
		// client stayed unacknowledged for WriteTimeout (the TCP user
		// timeout): a write that failed, whichever side saw it first.
		s.end(&writeTimeoutError{err}, true)
	} else {
		s.end(errClientGone, false)
	}

	// Wait for a running writer to stop: conn is closed, so it will.
	s.mu.Lock()
	var idle chan struct{}
	if s.writing {
		idle = make(chan struct{})
		s.idle = idle
	}
	s.mu.Unlock()
	if idle != nil {
		<-idle
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.sub.Close()
	b := s.b
	b.unregister(s)
	s.mu.Lock()
	err, failed := s.endErr, s.failed
	s.mu.Unlock()
	b.ended(s.remote, failed, err)
	b.leave()
}

// end marks the stream over and closes its connection, which ends own's
// read and any write in progress. Only the first call counts.
func (s *hijacked) end(err error, failed bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.endErr, s.failed = true, err, failed
	s.mu.Unlock()
	s.conn.Close()
}

// wake makes sure a writer runs: it starts one unless one runs already,
// which then goes round once more. The hub calls it with its lock held, so
// it must not call the hub.
func (s *hijacked) wake() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.again = true
	if s.writing {
		s.mu.Unlock()
		return
	}
	s.writing = true
	s.mu.Unlock()
	go s.run()
}

func (s *hijacked) heartbeat() {
	s.mu.Lock()
	s.beat = true
	s.mu.Unlock()
	s.wake()
}

// shutdown asks the stream to write what waits for it and end.
func (s *hijacked) shutdown() {
	s.mu.Lock()
	s.stop = true
	s.mu.Unlock()
	s.wake()
}

// write writes until nothing is left, then exits.
func (s *hijacked) write() {
	for {
		s.mu.Lock()
		if s.ended || !s.again {
			s.writing = false
			if s.idle != nil {
				close(s.idle)
				s.idle = nil
			}
			s.mu.Unlock()
			return
		}
		s.again = false
		beat, stop := s.beat, s.stop
		s.beat = false
		s.mu.Unlock()

		s.msgs = s.sub.Take(s.msgs)
		err := s.flush(s.msgs, beat)
		if cap(s.msgs) > keepMsgs {
			s.msgs = nil
		}
		switch {
		case err != nil:
			s.end(err, true)
		case stop:
			s.end(errShutdown, false)
		default:
			if err := s.sub.Err(); err != nil {
				s.end(err, false) // too slow, or the hub closed
			}
		}
	}
}

// flush writes msgs, or a heartbeat comment if beat and there is nothing
// else, in one write under the write deadline.
func (s *hijacked) flush(msgs []*hub.Message, beat bool) error {
	if len(msgs) == 0 && beat {
		return s.send(heartbeatComment)
	}
	return writeMsgs(s.send, msgs)
}

// send writes p under the write deadline and puts the next heartbeat off.
func (s *hijacked) send(p []byte) error {
	s.setDeadline()
	if _, err := s.conn.Write(p); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return &writeTimeoutError{err}
		}
		return err
	}
	if s.timer != nil {
		s.timer.Reset(s.b.opts.Heartbeat)
	}
	return nil
}

// writeTimeoutError says a write did not finish within WriteTimeout.
type writeTimeoutError struct{ err error }

func (e *writeTimeoutError) Error() string {
	return "sse: write timed out: client not reading: " + e.err.Error()
}
func (e *writeTimeoutError) Unwrap() error { return e.err }
