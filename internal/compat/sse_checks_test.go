package compat

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
)

// publishSSE publishes n events to topic once the Broker has a stream on
// it, and returns their data.
func publishSSE(t *testing.T, b *sse.Broker, topic string, n int) []string {
	t.Helper()
	waitfor.Cond(t, "the Broker to have the stream", waitBound, func() bool { return b.Stats().Clients > 0 })
	var data []string
	for i := range n {
		d := fmt.Sprintf("event %d on %s", i, topic)
		if _, err := b.Publish(topic, sse.Event{Type: "tick", Data: d}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		data = append(data, d)
	}
	return data
}

// openStream opens the stream of topic through the rig's stack and
// checks the answer is an event stream over the rig's protocol.
func (r *rig) openStream(topic string) *sseStream {
	t := r.t
	t.Helper()
	s, err := openSSE(r.client(), r.url(r.stack.pathOf("events", topic)))
	if err != nil {
		t.Fatalf("GET the stream: %v", err)
	}
	t.Cleanup(s.close)
	if s.resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(s.resp.Body, 512))
		t.Fatalf("stream answered %s: %q", s.resp.Status, body)
	}
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream has Content-Type %q, want text/event-stream", ct)
	}
	if s.resp.ProtoMajor != int(r.proto) {
		t.Fatalf("stream served over %s, want %s", s.resp.Proto, r.proto)
	}
	return s
}

// expectEvents reads the events of want, in order.
func expectEvents(t *testing.T, s *sseStream, want []string) {
	t.Helper()
	for i, w := range want {
		e, err := s.next()
		if err != nil {
			t.Fatalf("event %d of %d: %v (the stream ended after %d bytes)", i+1, len(want), err, s.raw.n.Load())
		}
		if e.Data != w || e.Type != "tick" {
			t.Fatalf("event %d: %q of type %q, want %q of type tick", i+1, e.Data, e.Type, w)
		}
	}
}

// expectCleanEnd reads the stream to its end, which must be a clean EOF
// with no more events.
func expectCleanEnd(t *testing.T, s *sseStream) {
	t.Helper()
	evs, err := s.rest()
	if len(evs) > 0 {
		t.Errorf("%d more events before the end: %+v", len(evs), evs)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("the stream ended with %v, want a clean EOF", err)
	}
}

// accessLineOf returns the rig's access log lines for path.
func (r *rig) accessLinesOf(path string) []accessLine {
	r.t.Helper()
	lines, err := r.stack.access.lines(r.access.String(), path)
	if err != nil {
		r.t.Fatal(err)
	}
	return lines
}

// checkSSEStream is the main SSE case: events published after the stream
// opens arrive; while the stream is open its request is in the server's
// handler and the access log has no line for it; srv.Shutdown, with the Broker registered through
// RegisterOnShutdown, returns nil once the stream has ended, and the
// client sees the events then a clean EOF; the access log then has one
// line with status 200, the bytes the client received, and a duration
// that covers the stream's life.
func checkSSEStream(t *testing.T, st stack, p proto) {
	r := newRig(t, st, p, rigOptions{})
	s := r.openStream("t1")
	expectEvents(t, s, publishSSE(t, r.broker, "t1", 3))

	// The stream lives in its handler, where middleware, the access log
	// and srv.Shutdown see it.
	if n := r.inflight.Load(); n != 1 {
		t.Errorf("the server has %d requests in its handler while the stream is open, want 1: the stream does not live in its handler", n)
	}
	if st.access != nil {
		if lines := r.accessLinesOf("/events"); len(lines) > 0 {
			t.Errorf("%s wrote the stream's line while the stream was still open: %q", st.access.name, lines[0].raw)
		}
	}

	shutdownAt := time.Now()
	if err := r.shutdown(); err != nil {
		t.Errorf("srv.Shutdown: %v", err)
	}
	if n := r.broker.Stats().Clients; n != 0 {
		t.Errorf("srv.Shutdown returned with %d streams still open", n)
	}
	expectCleanEnd(t, s)

	if st.access == nil {
		return
	}
	lines := r.accessLinesOf("/events")
	if len(lines) != 1 {
		t.Fatalf("%s has %d lines for the stream, want 1:\n%s", st.access.name, len(lines), r.access.String())
	}
	l := lines[0]
	if l.status != http.StatusOK {
		t.Errorf("%s logged status %d, want 200: %q", st.access.name, l.status, l.raw)
	}
	if got := s.raw.n.Load(); l.bytes != got {
		t.Errorf("%s logged %d bytes, the client received %d: %q", st.access.name, l.bytes, got, l.raw)
	}
	// The handler ran from before the head reached the client until after
	// Shutdown was called: the logged duration covers that.
	if min := shutdownAt.Sub(s.gotHead); st.access.hasDuration && l.duration < min {
		t.Errorf("%s logged a duration of %v, but the stream was open for at least %v: %q", st.access.name, l.duration, min, l.raw)
	}
}

// checkSSEDeadline: behind a middleware that gives requests a deadline
// (chi's middleware.Timeout), a stream delivers its events and ends by
// itself, cleanly, when the deadline passes; the access log then has its
// line with status 200.
func checkSSEDeadline(t *testing.T, st stack, p proto) {
	r := newRig(t, st, p, rigOptions{})
	s := r.openStream("t1")
	expectEvents(t, s, publishSSE(t, r.broker, "t1", 3))
	// The deadline is chiTimeout after the request; the stream must end
	// well before the client's own bound (3*waitBound).
	done := make(chan error, 1)
	go func() {
		_, err := s.rest()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("the stream ended with %v, want a clean EOF at the request's deadline", err)
		}
	case <-time.After(waitBound):
		t.Fatalf("the stream was still open %v after the request's deadline of %v passed", waitBound, chiTimeout)
	}
	waitfor.Cond(t, "the Broker to end the stream", waitBound, func() bool { return r.broker.Stats().Clients == 0 })
	lines := r.accessLinesOf("/events")
	if len(lines) != 1 || lines[0].status != http.StatusOK || lines[0].bytes != s.raw.n.Load() {
		t.Errorf("%s, want one line with status 200 and %d bytes:\n%s", st.access.name, s.raw.n.Load(), r.access.String())
	}
}

// checkSSEClose: srv.Close, with nothing registered, ends the streams:
// the client's stream ends (with an error or EOF) instead of going on.
func checkSSEClose(t *testing.T, st stack, p proto) {
	r := newRig(t, st, p, rigOptions{noShutdownHooks: true})
	s := r.openStream("t1")
	expectEvents(t, s, publishSSE(t, r.broker, "t1", 1))
	if err := r.srv.Config.Close(); err != nil {
		t.Errorf("srv.Close: %v", err)
	}
	done := make(chan []sse.Event, 1)
	go func() {
		evs, _ := s.rest()
		done <- evs
	}()
	// Events published after Close must not reach the client.
	deadline := time.Now().Add(waitBound)
	for {
		if _, err := r.broker.Publish("t1", sse.Event{Type: "tick", Data: "after Close"}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		select {
		case evs := <-done:
			if len(evs) > 0 {
				t.Errorf("%d events arrived after srv.Close", len(evs))
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream still delivers events %v after srv.Close", waitBound)
		}
	}
}

// checkSSERefused: behind a stack through which a stream cannot work (the
// writer cannot flush, or the response is buffered whole), the Broker
// refuses the request before sending anything: an HTTP error status with
// no event-stream bytes, and an error in its log naming the cause.
func checkSSERefused(t *testing.T, st stack, p proto) {
	r := newRig(t, st, p, rigOptions{})
	s, err := openSSE(r.client(), r.url(r.stack.pathOf("events", "t1")))
	if err != nil {
		t.Fatalf("GET the stream: %v", err)
	}
	defer s.close()
	body, err := io.ReadAll(s.resp.Body)
	if s.resp.StatusCode < 500 {
		t.Errorf("answered %s with Content-Type %q and body %q (read error %v), want a 5xx refusal before any event",
			s.resp.Status, s.resp.Header.Get("Content-Type"), body, err)
	}
	if strings.Contains(string(body), "retry:") || strings.Contains(string(body), "data:") {
		t.Errorf("the refusal carries event-stream bytes: %q", body)
	}
	if errs := r.brokerLog.atLeast(slog.LevelError); len(errs) == 0 {
		t.Errorf("the Broker logged no error for the refusal; it logged: %q", r.brokerLog.atLeast(slog.LevelDebug))
	}
}

// checkSSEServerWriteTimeout: the WriteTimeout of the server that runs the
// Broker does not end a stream: an event published once it has passed
// still arrives.
func checkSSEServerWriteTimeout(t *testing.T, st stack, p proto) {
	const writeTimeout = 200 * time.Millisecond
	r := newRig(t, st, p, rigOptions{writeTimeout: writeTimeout})
	s := r.openStream("t1")
	expectEvents(t, s, publishSSE(t, r.broker, "t1", 1))
	// Nothing signals that a server's timeout has passed: wait it out,
	// with a margin (a longer wait only makes the check stricter).
	time.Sleep(3 * writeTimeout)
	if _, err := r.broker.Publish("t1", sse.Event{Type: "tick", Data: "after WriteTimeout"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	expectEvents(t, s, []string{"after WriteTimeout"})
}
