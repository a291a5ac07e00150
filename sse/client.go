package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultClientRetry is a [Client]'s reconnection time until the server
// sends one in a retry field.
const DefaultClientRetry = 3 * time.Second

// A Client reads event streams the way a browser's EventSource does: it
// reconnects when a stream ends or breaks, after the reconnection time the
// server asked for, and sends the last event ID it received in the
// Last-Event-ID header so the server can resume. The zero value is ready to
// use.
type Client struct {
	// HTTPClient makes the requests. Nil means http.DefaultClient. Its
	// Timeout must be zero, or it ends every stream.
	HTTPClient *http.Client

	// Header holds extra request headers, such as Authorization.
	Header http.Header

	// Retry is the reconnection time until the server sends one. Zero
	// means DefaultClientRetry.
	Retry time.Duration

	// MaxEventSize bounds one line or event, as Reader.MaxEventSize does.
	MaxEventSize int
}

// A Stream is an event stream opened by [Client.Subscribe]. It is not safe
// for concurrent use, except Close.
type Stream struct {
	c      *Client
	url    string
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex // guards body against Close
	body io.ReadCloser
	rd   *Reader

	lastID     string
	retry      time.Duration
	reconnects int
}

// Subscribe opens the stream at url, resuming after lastEventID when it is
// not empty, and returns once the server has answered. The stream lives
// until ctx ends or Close is called.
//
// An answer other than 200 with Content-Type text/event-stream is an error
// of type *StatusError (a browser stops reconnecting then, too); so is 204
// No Content, which a server sends to say "do not reconnect".
func (c *Client) Subscribe(ctx context.Context, url, lastEventID string) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{c: c, url: url, ctx: ctx, cancel: cancel, lastID: lastEventID, retry: c.Retry}
	if s.retry <= 0 {
		s.retry = DefaultClientRetry
	}
	if err := s.connect(); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// connect opens one connection.
func (s *Stream) connect() error {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return fmt.Errorf("sse: %w", err)
	}
	for k, v := range s.c.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-store")
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	hc := s.c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("sse: connect: %w", err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		se := &StatusError{Code: resp.StatusCode, Header: resp.Header}
		if msg := strings.TrimSpace(string(body)); msg != "" {
			se.Err = errors.New(msg)
		}
		if resp.StatusCode == http.StatusOK {
			se.Err = fmt.Errorf("content type %q, not text/event-stream", mt)
		}
		return se
	}
	rd := NewReader(resp.Body)
	rd.MaxEventSize = s.c.MaxEventSize
	s.mu.Lock()
	s.body, s.rd = resp.Body, rd
	s.mu.Unlock()
	return nil
}

// Next returns the next event. When the connection ends or breaks, Next
// waits for the reconnection time and reconnects with Last-Event-ID, for
// as long as it takes, until ctx ends or Close is called; then it returns
// the context's error. An answer that refuses the reconnection ends the
// stream with a *StatusError, and a line or event too large ends it with
// ErrTooLarge.
func (s *Stream) Next() (Event, error) {
	for {
		if s.rd != nil {
			ev, err := s.rd.Next()
			if err == nil {
				s.lastID = ev.ID
				if d := s.rd.Retry(); d > 0 {
					s.retry = d
				}
				return ev, nil
			}
			s.drop()
			if errors.Is(err, ErrTooLarge) {
				return Event{}, err
			}
		}
		if err := s.ctx.Err(); err != nil {
			return Event{}, err
		}
		t := time.NewTimer(s.retry)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return Event{}, s.ctx.Err()
		case <-t.C:
		}
		s.reconnects++
		if err := s.connect(); err != nil {
			var se *StatusError
			if errors.As(err, &se) {
				return Event{}, err
			}
			// A network error: try again after the reconnection time.
		}
	}
}

// drop closes the current connection, keeping what it taught: the last
// event ID and the reconnection time.
func (s *Stream) drop() {
	if s.rd.blank {
		s.lastID = s.rd.LastEventID()
	}
	if d := s.rd.Retry(); d > 0 {
		s.retry = d
	}
	s.mu.Lock()
	s.body.Close()
	s.body, s.rd = nil, nil
	s.mu.Unlock()
}

// LastEventID returns the ID sent in Last-Event-ID on the next reconnect.
func (s *Stream) LastEventID() string { return s.lastID }

// Reconnects returns how many times the stream reconnected.
func (s *Stream) Reconnects() int { return s.reconnects }

// Close ends the stream; a Next blocked in another goroutine returns.
func (s *Stream) Close() error {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.body != nil {
		return s.body.Close()
	}
	return nil
}
