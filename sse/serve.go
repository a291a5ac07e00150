package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/netopt"
	"github.com/realtime-go/realtime/internal/origin"
	"github.com/realtime-go/realtime/internal/request"
)

// register adds s to the streams Shutdown stops; if Shutdown has begun, s
// is stopped at once.
func (b *Broker) register(s *stream) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped.Load() {
		s.shutdown()
		return
	}
	b.streams[s] = struct{}{}
}

func (b *Broker) unregister(s *stream) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.streams, s)
}

// enter counts a running handler, unless the Broker is shutting down.
func (b *Broker) enter() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped.Load() {
		return false
	}
	b.active++
	return true
}

func (b *Broker) leave(addr string) {
	b.perAddr.Release(addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
	if b.stopped.Load() && b.active == 0 {
		close(b.idle)
	}
}

// ServeHTTP serves one event stream; see [Broker].
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The request is checked and the stream opened on a goroutine of its
	// own, which exits once the stream runs: what that takes (parsing the
	// request, the subscription, OnConnect) grows that goroutine's stack,
	// not the handler's. The handler's goroutine, which net/http keeps for
	// as long as the stream lasts, only waits for the stream to end, at the
	// stack net/http gave it: the collector never shrinks a stack while a
	// quarter of it is in use, and net/http's frames under the handler use
	// more than a quarter of 4 KiB, so a stack grown to 8 KiB once would
	// stay so.
	st, addr := b.handshake(w, r)
	if st == nil {
		return
	}
	// Wait in a receive, the least a goroutine can park in, for the stream
	// to end; when the request's context ends first (the client went
	// away), stop the writer, letting a write in progress finish or fail
	// first, so that a failed write is counted as one.
	ctx := r.Context()
	stop := context.AfterFunc(ctx, st.stopWriter)
	<-st.idle
	if !stop() {
		st.end(requestEnded(ctx), false)
	}
	st.finish()
	b.leave(addr)
}

// A handshake is what a stream's handshake hands its handler: the stream,
// if one runs in the handler, with the address it is counted under, or
// the handshake's panic.
type handshake struct {
	s        *stream
	addr     string
	panicked any
}

// handshake runs the handshake of r's stream on a goroutine of its own and
// returns what it hands the handler; a panic there panics here. Its frame
// is off the handler's stack once it returns, while the handler waits.
//
//go:noinline
func (b *Broker) handshake(w http.ResponseWriter, r *http.Request) (*stream, string) {
	opened := make(chan handshake, 1)
	go b.runHandshake(w, r, opened)
	h := <-opened
	if h.panicked != nil {
		panic(h.panicked) // net/http's to recover, as if it happened in the handler
	}
	return h.s, h.addr
}

// runHandshake opens the stream of r and sends the outcome on opened.
func (b *Broker) runHandshake(w http.ResponseWriter, r *http.Request, opened chan<- handshake) {
	var h handshake
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				b.logPanic(r, "ServeHTTP", v) // with this goroutine's stack
			}
			h = handshake{panicked: v}
		}
		opened <- h
	}()
	h.s, h.addr = b.open(w, r)
}

// open checks r and opens its stream. It returns the stream that then runs
// in the handler, and the address it counts under, or nil when r was
// answered or its connection taken over.
func (b *Broker) open(w http.ResponseWriter, r *http.Request) (*stream, string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		b.rejected.Add(1)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "sse: method "+r.Method+" not allowed: an event stream is opened with GET", http.StatusMethodNotAllowed)
		return nil, ""
	}
	if err := origin.CheckHost(origin.Forwarded(r, b.opts.TrustedProxies), b.opts.AllowedHosts); err != nil {
		b.rejected.Add(1)
		origin.LogRefusal(b.log, r, origin.HostCause, fmt.Errorf("sse: %w", err))
		http.Error(w, "Forbidden: sse: "+err.Error(), http.StatusForbidden)
		return nil, ""
	}
	topics, lastID, err := b.request(r)
	if err != nil {
		b.refuse(w, err)
		return nil, ""
	}
	addr := b.clientAddr(r)
	if !b.perAddr.Acquire(addr) {
		b.refused.Add(1)
		request.TooMany(w, b.opts.retryAfter)
		return nil, ""
	}
	if !b.enter() {
		b.perAddr.Release(addr)
		b.unavailable(w, "sse: server shutting down")
		return nil, ""
	}
	s, handedOver := b.serve(w, r, topics, lastID, addr)
	if s == nil && !handedOver {
		b.leave(addr)
	}
	return s, addr
}

// clientAddr returns the address r's client is counted under.
func (b *Broker) clientAddr(r *http.Request) string {
	if b.opts.ClientAddr != nil {
		return b.opts.ClientAddr(r)
	}
	return request.RemoteHost(r)
}

// serve starts one stream and returns it, to run in the handler, or
// reports whether it handed the connection over to a taken-over stream,
// which then calls b.leave itself; with neither, r was answered.
func (b *Broker) serve(w http.ResponseWriter, r *http.Request, topics []string, lastID, addr string) (s *stream, handedOver bool) {
	if r.Method == http.MethodHead {
		setStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return nil, false
	}
	takeOver := b.opts.TakeOver && r.ProtoMajor == 1 && canHijack(w)
	if !takeOver && !canFlush(w) {
		b.cannotServe(w, r, "the ResponseWriter cannot flush, so no event would reach the client before the response ends: "+
			"serve the Broker outside http.TimeoutHandler and response-buffering middleware, "+
			"and give every middleware ResponseWriter wrapper an Unwrap method (or a Flush of its own, "+
			"when it wraps nothing that unwraps)")
		return nil, false
	}
	sub, err := b.hub.Subscribe(r.Context(), topics, lastID)
	if err != nil {
		switch {
		case errors.Is(err, hub.ErrTooManySubscribers):
			b.unavailable(w, "sse: too many streams open, try again later")
			return nil, false
		case errors.Is(err, hub.ErrClosed):
			b.unavailable(w, "sse: server shutting down")
			return nil, false
		}
		b.refuse(w, b.hubError(err))
		return nil, false
	}
	b.opened.Add(1)
	b.log.LogAttrs(r.Context(), slog.LevelDebug, "sse: stream opened",
		slog.Any("topics", topics), slog.String("lastEventId", lastID), slog.String("remote", r.RemoteAddr))
	if err := b.onConnect(r, topics); err != nil {
		sub.Close()
		http.Error(w, "Internal Server Error: sse: the server failed to open the stream; its log says why", http.StatusInternalServerError)
		b.ended(r.RemoteAddr, false, err)
		b.onClose(r, err)
		return nil, false
	}

	sw := NewWriter(w)
	sw.WriteTimeout = b.opts.WriteTimeout
	if b.opts.Retry > 0 {
		sw.writeRetry(b.opts.Retry)
	}
	// Unless a Take may wait on the HistorySource, the first is made here.
	takeHere := lastID == "" && b.opts.History == nil
	if takeOver {
		if conn, _, err := sw.rc.Hijack(); err == nil {
			b.takeOver(r, conn, sw, sub, addr, takeHere)
			return nil, true
		}
	}
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		b.boundKernel(r, c)
	}
	s = b.newStream(sub, writerSink{sw}, r)
	// start sends the head from this goroutine, which exits next, rather
	// than from a writer goroutine started for it, which would linger with
	// the stack net/http's write path grew, with nothing else to write.
	s.start(takeHere)
	return s, false
}

// connKey is the key of the connection ConnContext puts in a context.
type connKey struct{}

// ConnContext, set as an http.Server's ConnContext, lets a Broker reach
// the connection of a stream served by its handler, as it does with
// TakeOver, to bound what the kernel holds for it: on Linux, a stream's
// writes then wait while 16 KiB written are not yet sent
// (TCP_NOTSENT_LOWAT), as a Hub's connections do. Without it, the kernel
// grows the send buffer of a client that does not read up to
// net.ipv4.tcp_wmem's maximum (4 MiB by default): a resume's replay is
// then held in kernel memory, outside the server's own bounds. It returns
// ctx with c as a value.
//
//	srv := &http.Server{Handler: mux, ConnContext: sse.ConnContext}
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// boundKernel bounds what the kernel holds for conn, a stream's
// connection: see ConnContext.
func (b *Broker) boundKernel(r *http.Request, conn net.Conn) {
	if err := netopt.SetNotSentLowat(conn, netopt.NotSentLowat); err != nil {
		b.log.LogAttrs(r.Context(), slog.LevelWarn, "sse: cannot bound what the kernel holds for a stream",
			slog.String("remote", r.RemoteAddr), slog.Any("err", err))
	}
}

// gapEvent returns the event that reports g. The client's next resume
// starts after it: from g.Resume when no event follows it in the same
// write (events carry their own IDs).
func gapEvent(g *hub.Gap, alone bool) Event {
	id := g.LastID
	if len(id) > hub.MaxIDLength {
		id = id[:hub.MaxIDLength]
	}
	data, _ := json.Marshal(Gap{LastEventID: id, Reason: g.Reason}) // cannot fail
	ev := Event{Type: GapEvent, Data: string(data)}
	if alone {
		ev.ID = g.Resume
	}
	return ev
}

// requestEnded returns why a stream ends when its request's context is
// done: ErrClientGone when the client went away, else the context's cause
// (a deadline set by middleware, say).
func requestEnded(ctx context.Context) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, context.Canceled) {
		return ErrClientGone
	}
	return fmt.Errorf("sse: request context ended: %w", cause)
}

// ended counts and logs how a stream ended; writeFailed says whether a
// write or flush failed.
func (b *Broker) ended(remote string, writeFailed bool, err error) {
	level, msg := slog.LevelDebug, "sse: stream closed"
	switch {
	case writeFailed && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT)):
		b.writeFailed.Add(1)
		level, msg = slog.LevelWarn, "sse: stream ended: write failed"
	case writeFailed:
		// The client went away while a write was under way: as ordinary
		// as a close seen by the read, so it is not worth a warning.
		b.writeFailed.Add(1)
		msg = "sse: stream ended: client gone during a write"
	}
	b.log.LogAttrs(context.Background(), level, msg, slog.Any("reason", err), slog.String("remote", remote))
}

// cannotServe answers 500 to a request this server cannot stream to, and
// logs why at Error: it is the server's set-up, not the client, to fix.
func (b *Broker) cannotServe(w http.ResponseWriter, r *http.Request, why string) {
	b.rejected.Add(1)
	b.log.LogAttrs(r.Context(), slog.LevelError, "sse: stream refused: "+why,
		slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr))
	http.Error(w, "sse: this server cannot stream events here; its log says why", http.StatusInternalServerError)
}

// canFlush reports whether a flush of w reaches the connection, found
// without flushing, so that a request can be refused before anything is
// sent. A wrapper's Flush can only pass the flush on to the writer it
// wraps (chi's Compress writer, for one, flushes the writer under it if
// that can flush, and does nothing otherwise), so what counts is the end
// of the Unwrap chain: the writer that has no Unwrap must flush.
func canFlush(w http.ResponseWriter) bool {
	switch chainEnd(w).(type) {
	case interface{ FlushError() error }, http.Flusher:
		return true
	}
	return false
}

// canHijack reports whether w can be hijacked: as for canFlush, whether
// the end of its Unwrap chain can.
func canHijack(w http.ResponseWriter) bool {
	_, ok := chainEnd(w).(http.Hijacker)
	return ok
}

// chainEnd returns the writer at the end of w's Unwrap chain.
func chainEnd(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// request returns the topics r asks for, checked, and the ID it resumes
// from.
func (b *Broker) request(r *http.Request) (topics []string, lastID string, err error) {
	topics, lastID, err = request.Read(r, b.opts.Topics)
	if err != nil {
		return nil, "", err
	}
	if len(topics) == 0 {
		return nil, "", errors.New("sse: no topic: name at least one, as in ?topic=name")
	}
	if len(topics) > b.opts.MaxTopics {
		return nil, "", fmt.Errorf("%w: %d topics, at most %d", errTooManyTopics, len(topics), b.opts.MaxTopics)
	}
	for _, t := range topics {
		if err := checkTopic(t); err != nil {
			return nil, "", err
		}
	}
	return topics, lastID, nil
}

// refuse answers a request that cannot be served with err's status: a
// *StatusError's, or 400 Bad Request.
func (b *Broker) refuse(w http.ResponseWriter, err error) {
	b.rejected.Add(1)
	request.Refuse(w, err, http.StatusBadRequest)
}

// unavailable answers 503 with Retry-After.
func (b *Broker) unavailable(w http.ResponseWriter, msg string) {
	b.refused.Add(1)
	request.RetryLater(w, http.StatusServiceUnavailable, b.opts.retryAfter, msg)
}
