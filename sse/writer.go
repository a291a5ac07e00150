package sse

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/realtime-go/realtime/internal/pump"
)

// defaultWriteTimeout bounds, when a WriteTimeout is zero, how long one
// write and flush of a stream may take. A client that stops reading (or a
// network that stops carrying) makes the write fail within this time
// instead of holding the stream forever.
const defaultWriteTimeout = 10 * time.Second

// A Writer writes one event stream over an [http.ResponseWriter], over
// HTTP/1.1 or HTTP/2. Flushing and write deadlines go through
// [http.ResponseController], so a ResponseWriter wrapped by middleware
// works as long as the wrapper has an Unwrap() http.ResponseWriter method.
//
// After a write or flush fails, every method returns that error: the stream
// is over and the handler should return. A Writer is not safe for
// concurrent use, and like the ResponseWriter it must not be used after the
// handler returns.
type Writer struct {
	// WriteTimeout bounds each Flush. Zero means 10 s;
	// negative means no deadline. If the ResponseWriter cannot set write
	// deadlines (http.ErrNotSupported), writes go on without one.
	WriteTimeout time.Duration

	w          http.ResponseWriter
	rc         *http.ResponseController
	buf        *[]byte // pending bytes, from bufPool; nil when empty
	noDeadline bool    // the ResponseWriter cannot set deadlines
	err        error
}

// NewWriter returns a Writer for w and sets the stream's response headers:
// Content-Type: text/event-stream, Cache-Control: no-store and
// X-Accel-Buffering: no (so that proxies such as nginx do not buffer the
// stream). Nothing is sent until Flush.
func NewWriter(w http.ResponseWriter) *Writer {
	setStreamHeaders(w.Header())
	return &Writer{w: w, rc: http.NewResponseController(w)}
}

func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
}

// bufPool holds write buffers between flushes, so an idle stream holds
// none. Buffers that grew past maxPooledBuf are left to the collector.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBuf is the largest buffer capacity putBuf returns to bufPool.
const maxPooledBuf = 64 << 10

// getBuf returns an empty buffer from bufPool.
func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf empties p and returns it to bufPool, unless it grew past
// maxPooledBuf.
func putBuf(p *[]byte) {
	if cap(*p) <= maxPooledBuf {
		*p = (*p)[:0]
		bufPool.Put(p)
	}
}

// pending returns the Writer's buffer, taking one from bufPool if it has
// none.
func (w *Writer) pending() *[]byte {
	if w.buf == nil {
		w.buf = getBuf()
	}
	return w.buf
}

func (w *Writer) release() {
	if w.buf != nil {
		putBuf(w.buf)
		w.buf = nil
	}
}

// writeEvent encodes e into the Writer's buffer. It returns e's validation
// error, leaving the buffer as it was, or the error
// that ended the stream.
func (w *Writer) writeEvent(e Event) error {
	if w.err != nil {
		return w.err
	}
	if err := e.validate(); err != nil {
		return err
	}
	p := w.pending()
	*p = appendEvent(*p, &e)
	return nil
}

// WriteComment encodes a comment into the Writer's buffer; browsers
// ignore it, and it keeps idle connections and proxies alive. A text
// holding line breaks is written as several comment lines; it must be
// UTF-8.
func (w *Writer) WriteComment(text string) error {
	if w.err != nil {
		return w.err
	}
	p := w.pending()
	var err error
	*p, err = appendComment(*p, text)
	return err
}

// writeRetry encodes a retry field into the Writer's buffer, as
// [encodeRetry] does.
func (w *Writer) writeRetry(d time.Duration) error {
	if w.err != nil {
		return w.err
	}
	p := w.pending()
	var err error
	*p, err = encodeRetry(*p, d)
	return err
}

// Flush sends what was written since the last Flush, with the response
// headers if they were not sent yet, and flushes it to the client, all
// within WriteTimeout. A Flush with nothing written sends the headers.
//
// If the ResponseWriter cannot flush, Flush returns an error that wraps
// http.ErrNotSupported.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	var p []byte
	if w.buf != nil {
		p = *w.buf
	}
	err := w.send(p)
	w.release()
	return err
}

// Send writes e and flushes it.
func (w *Writer) Send(e Event) error {
	if err := w.writeEvent(e); err != nil {
		return err
	}
	return w.Flush()
}

// send writes parts and flushes, under the write deadline.
func (w *Writer) send(parts ...[]byte) error {
	timeout := w.WriteTimeout
	if timeout == 0 {
		timeout = defaultWriteTimeout
	}
	deadline := timeout > 0 && !w.noDeadline
	if deadline {
		if err := w.rc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			if !errors.Is(err, http.ErrNotSupported) {
				return w.fail(fmt.Errorf("sse: set write deadline: %w", err))
			}
			w.noDeadline, deadline = true, false
		}
	}
	if err := pump.WriteParts(w.w, parts); err != nil {
		return w.fail(fmt.Errorf("sse: write: %w", err))
	}
	if err := w.rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			return w.fail(fmt.Errorf("sse: the response writer cannot flush, so events would not reach the client (a middleware wrapper without Unwrap?): %w", err))
		}
		return w.fail(fmt.Errorf("sse: flush: %w", err))
	}
	if deadline {
		// Clear the deadline: an idle stream must not time out (over
		// HTTP/2 an expired deadline resets the stream even when idle).
		if err := w.rc.SetWriteDeadline(time.Time{}); err != nil {
			return w.fail(fmt.Errorf("sse: clear write deadline: %w", err))
		}
	}
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = err
	w.release()
	return err
}

// Err returns the error that ended the stream, or nil.
func (w *Writer) Err() error { return w.err }
