package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for [Client]. Each applies when its field is zero.
const (
	// defaultClientRetry is a Client's reconnection time until the server
	// sends one in a retry field: the first retry waits about this long,
	// as a ws.Subscriber's first does.
	defaultClientRetry = 500 * time.Millisecond

	// defaultMaxRetryDelay caps the reconnection time as it doubles after
	// each attempt that fails in a row.
	defaultMaxRetryDelay = 30 * time.Second
)

// minRetryHint is the shortest reconnection time a server's retry field
// can set, unless the Client's own Retry is shorter: a server cannot make
// its clients come back hundreds of times a second.
const minRetryHint = time.Second

// maxLastEventID is the longest event ID, in bytes, that a Client sends
// back in Last-Event-ID. A stream whose last event ID is longer resumes as
// a new one, with no Last-Event-ID, as after an empty id field: a server
// cannot make its clients repeat a request of any size.
const maxLastEventID = 1 << 10

// ErrRetry, wrapped by the error of a [Client]'s CheckResponse, asks the
// Client to retry the request after the backoff instead of ending the
// stream. [CheckEventStream] wraps it for 429, 502, 503 and 504.
var ErrRetry = errors.New("sse: retry")

// A Client reads event streams the way a browser's EventSource does: it
// reconnects when a stream ends or breaks, after the reconnection time the
// server asked for (at least 1 s, or Retry when that is shorter, as the
// default is), and sends the last event ID it received in the
// Last-Event-ID header so the server can resume. An ID longer than 1 KiB
// is not sent back: the stream then resumes as a new one. The zero value
// is ready to use.
//
// Unlike EventSource it takes any request ([Client.Connect]). A request
// that is not idempotent, such as the POST with a JSON body that streaming
// APIs take, is sent again after a network error or a response marked for
// retry, but a stream the server ended normally ends there: Next returns
// io.EOF. A request that net/http takes as idempotent (GET, HEAD, OPTIONS
// or TRACE, or one with an Idempotency-Key or X-Idempotency-Key header) is
// sent again after a normal end too, as EventSource does.
//
// Retries back off: the first waits the reconnection time, and each
// further one before an event arrives (after a network error, a response
// marked for retry, or a stream that ended with no event) waits twice as
// long as the one before, up to MaxRetryDelay. Each wait is drawn at
// random from the upper half of its range, so that clients dropped
// together do not come back together, and is at least the Retry-After of
// a response that sent one (up to MaxRetryDelay).
type Client struct {
	// HTTPClient makes the requests. Nil means http.DefaultClient. Its
	// Timeout must be zero, or it ends every stream.
	HTTPClient *http.Client

	// Header holds extra headers for every request, such as
	// Authorization. Headers of the request given to Connect win.
	Header http.Header

	// Retry is the reconnection time until the server sends one. Zero
	// means 500 ms.
	Retry time.Duration

	// MaxRetryDelay caps the reconnection time as it backs off. Zero
	// means 30 s.
	MaxRetryDelay time.Duration

	// MaxRetries bounds the retries since the last event received (or
	// since Connect); once they are spent the stream ends with the last
	// failure. For a request that is not idempotent it bounds the times
	// the request is sent again in all: events do not reset the count, so
	// that a stream that keeps breaking off does not repeat a POST for
	// ever. Zero means no bound, as in a browser.
	MaxRetries int

	// OnRetry, when set, is called before each wait for a retry, with the
	// number of the retry as MaxRetries counts it (1 for the first), the
	// wait, and why: io.EOF for a stream that ended, or the error of the
	// failed attempt.
	OnRetry func(attempt int, delay time.Duration, err error)

	// CheckResponse, when set, decides whether a response is an event
	// stream to read, before its body is read: nil accepts it; an error
	// rejects it (the body is closed) and ends the stream with that error,
	// or retries the request when the error wraps ErrRetry. Nil means
	// CheckEventStream.
	CheckResponse func(*http.Response) error

	// MaxEventSize bounds one line or event, as Reader.MaxEventSize does.
	MaxEventSize int
}

// CheckEventStream is a Client's check of a response unless
// Client.CheckResponse is set: it accepts 200 with Content-Type
// text/event-stream. Anything else is a *StatusError with up to 512 bytes
// of the body in its text; 204 No Content, which a server sends to say "do
// not reconnect", is one too. The statuses that ask to come back later
// (429, 502, 503 and 504) wrap ErrRetry.
func CheckEventStream(resp *http.Response) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode == http.StatusOK && mt == "text/event-stream" {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	se := &StatusError{Code: resp.StatusCode, Header: resp.Header}
	if msg := strings.TrimSpace(string(body)); msg != "" {
		se.Err = errors.New(msg)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		se.Err = fmt.Errorf("content type %q, not text/event-stream", mt)
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if se.Err == nil {
			se.Err = ErrRetry
		} else {
			se.Err = fmt.Errorf("%w: %w", ErrRetry, se.Err)
		}
	}
	return se
}

// A Stream is an event stream opened by [Client.Connect] or
// [Client.Subscribe]. It is not safe for concurrent use, except Close.
type Stream struct {
	c      *Client
	req    *http.Request // what each attempt sends, with a fresh body
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex // guards body against Close
	body io.ReadCloser
	rd   *Reader

	lastID     string
	retry      time.Duration
	minRetry   time.Duration // the shortest retry a server may set
	reconnects int
	failed     int   // retries since the last event
	resend     bool  // the request is idempotent: a normal end reconnects
	err        error // the end of the stream, once it ended
}

// Subscribe opens the stream at url with GET, resuming after lastEventID
// when it is not empty, and returns once the server has answered. The
// stream lives until ctx ends or Close is called. It is Connect with a GET
// request.
func (c *Client) Subscribe(ctx context.Context, url, lastEventID string) (*Stream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("sse: %w", err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	return c.Connect(req)
}

// Connect sends req and returns once a response passed the check (see
// CheckResponse), reading nothing of its body yet. The stream lives until
// req's context ends or Close is called. Each reconnection sends req again
// with its method, URL and headers, a fresh body from req.GetBody (which
// http.NewRequest sets for a body of type *bytes.Buffer, *bytes.Reader or
// *strings.Reader), and Last-Event-ID set to the last event ID received;
// a Last-Event-ID header of req is where the first attempt resumes. A
// request that is not idempotent is not sent again once the server ended
// its stream normally (see Client).
//
// The first attempt's network error or rejection is returned at once,
// except a rejection that wraps ErrRetry, which is retried with the
// backoff. A request with a body and no GetBody is refused: it could not
// be sent again.
func (c *Client) Connect(req *http.Request) (*Stream, error) {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return nil, errors.New("sse: the request's body cannot be sent again on a retry: set Request.GetBody")
	}
	ctx, cancel := context.WithCancel(req.Context())
	s := &Stream{c: c, req: req, ctx: ctx, cancel: cancel, retry: c.Retry, resend: idempotent(req)}
	s.setLastID(req.Header.Get("Last-Event-ID"))
	if s.retry <= 0 {
		s.retry = defaultClientRetry
	}
	s.minRetry = min(s.retry, minRetryHint)
	for {
		_, err := s.connect()
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrRetry) {
			cancel()
			return nil, err
		}
		if err := s.wait(err); err != nil {
			cancel()
			return nil, err
		}
	}
}

// idempotent reports whether req may be sent again after the server ended
// its stream normally: as net/http's Transport decides whether to replay a
// request, by its method or an Idempotency-Key header.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// setLastID keeps id for the next Last-Event-ID, or nothing when it is
// longer than maxLastEventID.
func (s *Stream) setLastID(id string) {
	if len(id) > maxLastEventID {
		id = ""
	}
	s.lastID = id
}

// setRetry keeps a reconnection time d the server sent, at least minRetry.
func (s *Stream) setRetry(d time.Duration) {
	if d > 0 {
		s.retry = max(d, s.minRetry)
	}
}

// connect sends one attempt and keeps its response when it passes the
// check. On failure, retry says whether to try again: after a network error
// or a rejection that wraps ErrRetry.
func (s *Stream) connect() (retry bool, err error) {
	req := s.req.Clone(s.ctx)
	if s.req.GetBody != nil {
		body, err := s.req.GetBody()
		if err != nil {
			return false, fmt.Errorf("sse: request body: %w", err)
		}
		req.Body = body
	}
	for k, v := range s.c.Header {
		if _, ok := req.Header[k]; !ok {
			req.Header[k] = v
		}
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/event-stream")
	}
	if req.Header.Get("Cache-Control") == "" {
		req.Header.Set("Cache-Control", "no-store")
	}
	req.Header.Del("Last-Event-ID")
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	hc := s.c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return true, fmt.Errorf("sse: connect: %w", err)
	}
	check := s.c.CheckResponse
	if check == nil {
		check = CheckEventStream
	}
	if err := check(resp); err != nil {
		resp.Body.Close()
		return errors.Is(err, ErrRetry), err
	}
	rd := NewReader(resp.Body)
	rd.MaxEventSize = s.c.MaxEventSize
	s.mu.Lock()
	s.body, s.rd = resp.Body, rd
	s.mu.Unlock()
	return false, nil
}

// Next returns the next event, reconnecting as [Client] says when the
// stream breaks or ends. It returns an error once the stream is over: the
// context's error when the request's context ends or Close is called, the
// last failure once MaxRetries are spent, io.EOF when the server ended the
// stream of a request that is not idempotent, the check's error for a
// response it rejects without ErrRetry (a *StatusError by default), or
// ErrTooLarge for a line or event too large. Once the stream ended, Next
// returns the same error again.
func (s *Stream) Next() (Event, error) {
	if s.err != nil {
		return Event{}, s.err
	}
	ev, err := s.next()
	if err != nil {
		s.err = err
	}
	return ev, err
}

func (s *Stream) next() (Event, error) {
	for {
		cause := io.EOF
		if s.rd != nil {
			ev, err := s.rd.Next()
			if err == nil {
				s.setLastID(ev.ID)
				s.setRetry(s.rd.Retry())
				if s.resend {
					s.failed = 0
				}
				return ev, nil
			}
			s.drop()
			if errors.Is(err, ErrTooLarge) {
				return Event{}, err
			}
			if err != io.EOF {
				cause = err
			} else if !s.resend {
				return Event{}, io.EOF
			}
		}
		for {
			if err := s.wait(cause); err != nil {
				return Event{}, err
			}
			s.reconnects++
			retry, err := s.connect()
			if err == nil {
				break
			}
			if s.ctx.Err() != nil {
				return Event{}, s.ctx.Err()
			}
			if !retry {
				return Event{}, err
			}
			cause = err
		}
	}
}

// wait counts a retry and waits the backoff for it. It returns an error
// once MaxRetries retries were spent since the last event, or ctx ends.
func (s *Stream) wait(cause error) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if s.c.MaxRetries > 0 && s.failed >= s.c.MaxRetries {
		return fmt.Errorf("sse: gave up after %d retries: %w", s.failed, cause)
	}
	d := s.backoff(cause)
	s.failed++
	if s.c.OnRetry != nil {
		s.c.OnRetry(s.failed, d, cause)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff returns the wait before the next attempt: the reconnection time
// doubled for each retry since the last event, capped at MaxRetryDelay,
// at least a Retry-After of a response that asked for it (up to the cap),
// and drawn at random from the upper half.
func (s *Stream) backoff(cause error) time.Duration {
	ceiling := s.c.MaxRetryDelay
	if ceiling <= 0 {
		ceiling = defaultMaxRetryDelay
	}
	d := s.retry
	for i := 0; i < s.failed && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	d = d/2 + rand.N(d/2+1)
	var se *StatusError
	if errors.As(cause, &se) && se.Header != nil {
		if secs, err := strconv.Atoi(se.Header.Get("Retry-After")); err == nil && secs > 0 {
			d = max(d, min(time.Duration(secs)*time.Second, ceiling))
		}
	}
	return d
}

// drop closes the current connection, keeping what it taught: the last
// event ID and the reconnection time.
func (s *Stream) drop() {
	if s.rd.blank {
		s.setLastID(s.rd.LastEventID())
	}
	s.setRetry(s.rd.Retry())
	s.mu.Lock()
	s.body.Close()
	s.body, s.rd = nil, nil
	s.mu.Unlock()
}

// LastEventID returns the ID sent in Last-Event-ID on the next reconnect.
func (s *Stream) LastEventID() string { return s.lastID }

// reconnected returns how many times the stream reconnected.
func (s *Stream) reconnected() int { return s.reconnects }

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
