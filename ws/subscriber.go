package ws

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Defaults for [SubscribeOptions], the same as client.js's. Each applies
// when its option is zero.
const (
	// defaultClientRetry is a Subscriber's first reconnection delay.
	defaultClientRetry = 500 * time.Millisecond

	// defaultMaxRetryDelay caps the reconnection delay as it doubles
	// after each attempt that fails in a row.
	defaultMaxRetryDelay = 30 * time.Second
)

// maxRetryDoublings bounds the doublings of the reconnection delay.
const maxRetryDoublings = 30

// stableConnection is how long a connection must stay open, when it
// delivers no message, for the reconnection delay to start over from
// Retry: a server that accepts and closes at once cannot bring its
// subscribers back faster than the backoff. client.js uses the same.
const stableConnection = 10 * time.Second

// maxLastEventID is the longest ID, in bytes, that a Subscriber sends back
// in lastEventId, as sse.Client does: after a message or gap notice with a
// longer ID the next connection resumes as a new one, without lastEventId,
// so that a server cannot make its subscribers repeat a URL of any size.
const maxLastEventID = 1 << 10

// SubscribeOptions configure [Subscribe]. A nil *SubscribeOptions is the
// zero value.
type SubscribeOptions struct {
	// Dial configures each connection. Subscribe offers Subprotocol first,
	// then Dial.Subprotocols.
	Dial DialOptions

	// Topics are sent as "topic" query parameters (none: the server may
	// choose them).
	Topics []string

	// LastEventID, when set, is where the first connection resumes.
	LastEventID string

	// Retry is the first reconnection delay. Zero means
	// 500 ms.
	Retry time.Duration

	// MaxRetryDelay caps the reconnection delay. Zero means
	// 30 s.
	MaxRetryDelay time.Duration

	// OnRetry, when set, is called before each wait to reconnect, with
	// the number of the attempt since the backoff last started over (1 for
	// the first), the wait, and why the connection ended or the attempt
	// failed.
	OnRetry func(attempt int, delay time.Duration, err error)
}

// A Subscriber follows topics of a Hub with reconnections, as client.js
// does in a browser: when its connection ends it reconnects after a
// jittered exponential backoff (a delay drawn from the upper half of
// Retry doubled for each attempt, up to MaxRetryDelay), sending the ID of
// the last hub message it got in the "lastEventId" query parameter, so
// the Hub replays what it missed, or first sends a gap notice that Next
// returns. The backoff starts over once a connection delivered a message
// or stayed open 10 seconds, not when one merely opens. An ID longer than
// 1 KiB is not sent back: the next connection then resumes as a new one.
// Join and Leave reconnect at once with the new topics and resume the
// same way.
//
// Next is for one goroutine at a time; the other methods are safe from any
// goroutine.
type Subscriber struct {
	url    *url.URL
	opts   SubscribeOptions
	dial   DialOptions // opts.Dial with the subprotocols to offer
	ctx    context.Context
	cancel context.CancelFunc

	connMu sync.Mutex // held while connecting, so one connection is made at a time

	mu         sync.Mutex
	conn       *Conn
	topics     []string
	lastID     string
	now        bool      // Join or Leave asked for a reconnection without delay
	attempt    int       // attempts since the backoff started over
	opened     time.Time // when conn opened
	reconnects int
}

// Subscribe connects to the Hub at u (ws://, wss://, http:// or https://)
// and returns once the first connection is open; an error of that first
// attempt is returned as it is. The Subscriber lives until ctx ends or
// Close is called.
func Subscribe(ctx context.Context, u string, opts *SubscribeOptions) (*Subscriber, error) {
	var o SubscribeOptions
	if opts != nil {
		o = *opts
	}
	if o.Retry <= 0 {
		o.Retry = defaultClientRetry
	}
	if o.MaxRetryDelay <= 0 {
		o.MaxRetryDelay = defaultMaxRetryDelay
	}
	pu, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("ws: subscribe: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Subscriber{url: pu, opts: o, dial: o.Dial, ctx: ctx, cancel: cancel, topics: slices.Clone(o.Topics), lastID: o.LastEventID}
	s.dial.Subprotocols = append([]string{Subprotocol}, o.Dial.Subprotocols...)
	s.connMu.Lock()
	err = s.connect()
	s.connMu.Unlock()
	if err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// href returns the URL of the next connection: the topics and lastEventId
// in the query, replacing any there.
func (s *Subscriber) href() string {
	u := *s.url
	q := u.Query()
	q.Del("topic")
	q.Del("lastEventId")
	for _, t := range s.topics {
		q.Add("topic", t)
	}
	if s.lastID != "" {
		q.Set("lastEventId", s.lastID)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// connect opens a connection. s.connMu is held.
func (s *Subscriber) connect() error {
	s.mu.Lock()
	href := s.href()
	s.mu.Unlock()
	c, err := Dial(s.ctx, href, &s.dial)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		c.CloseNow()
		return s.ctx.Err()
	}
	s.conn, s.opened = c, time.Now()
	return nil
}

// Next returns the next message: a hub message, a direct message, or a
// gap notice. Messages of a kind this version does not know are skipped.
// When the connection ends, Next reconnects and resumes, for as long as it
// takes, until ctx ends or Close is called; then it returns the error.
// Canceling ctx ends the current connection too (see Conn.Read); the next
// call reconnects.
func (s *Subscriber) Next(ctx context.Context) (Message, error) {
	for {
		s.mu.Lock()
		c := s.conn
		s.mu.Unlock()
		if c == nil {
			if err := s.reconnect(ctx, nil); err != nil {
				return Message{}, err
			}
			continue
		}
		typ, p, err := c.Read(ctx)
		if err != nil {
			s.mu.Lock()
			if s.conn == c {
				s.conn = nil
				if time.Since(s.opened) >= stableConnection {
					s.attempt = 0
				}
			}
			replaced := s.conn != nil // by Join or Leave
			s.mu.Unlock()
			c.CloseNow()
			if replaced {
				continue
			}
			if e := s.stopped(ctx); e != nil {
				return Message{}, e
			}
			if err := s.reconnect(ctx, err); err != nil {
				return Message{}, err
			}
			continue
		}
		m, ok := decodeMessage(typ, p, c.Subprotocol() == Subprotocol)
		s.mu.Lock()
		if !ok || s.conn != c {
			// Unknown, or from a connection that Join or Leave replaced:
			// the new one resumes from before it.
			s.mu.Unlock()
			continue
		}
		switch {
		case m.Gap != nil:
			s.setLastID(m.Gap.ID)
		case m.ID != "":
			s.setLastID(m.ID)
		}
		s.attempt = 0 // the connection delivered: the backoff starts over
		s.mu.Unlock()
		return m, nil
	}
}

// setLastID keeps id for the next lastEventId, or nothing when it is
// longer than maxLastEventID. s.mu is held.
func (s *Subscriber) setLastID(id string) {
	if len(id) > maxLastEventID {
		id = ""
	}
	s.lastID = id
}

// stopped returns the error that ends Next, if any.
func (s *Subscriber) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ws: subscriber: %w", err)
	}
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("ws: subscriber: %w", err)
	}
	return nil
}

// reconnect connects again, after the backoff unless Join or Leave is
// connecting already, retrying until a connection opens or ctx ends.
func (s *Subscriber) reconnect(ctx context.Context, cause error) error {
	for {
		s.mu.Lock()
		now := s.now
		var delay time.Duration
		if !now {
			ceiling := min(s.opts.MaxRetryDelay, s.opts.Retry<<min(s.attempt, maxRetryDoublings))
			if ceiling <= 0 { // the shift overflowed
				ceiling = s.opts.MaxRetryDelay
			}
			delay = ceiling/2 + rand.N(ceiling/2+1)
			s.attempt++
		}
		attempt := s.attempt
		s.mu.Unlock()
		if !now {
			if s.opts.OnRetry != nil {
				s.opts.OnRetry(attempt, delay, cause)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			case <-s.ctx.Done():
				t.Stop()
			}
			if err := s.stopped(ctx); err != nil {
				return err
			}
		}
		s.connMu.Lock()
		s.mu.Lock()
		if s.conn != nil { // Join or Leave connected meanwhile
			s.mu.Unlock()
			s.connMu.Unlock()
			return nil
		}
		s.reconnects++
		s.mu.Unlock()
		err := s.connect()
		s.connMu.Unlock()
		if err == nil {
			return nil
		}
		if e := s.stopped(ctx); e != nil {
			return e
		}
		cause = err
	}
}

// Join follows more topics: the Subscriber reconnects at once with them
// and resumes, so nothing is lost meanwhile. It returns once the new
// connection is open, or with the error of that attempt; Next then
// retries with the backoff.
func (s *Subscriber) Join(topics ...string) error {
	return s.change(func(ts []string) []string {
		for _, t := range topics {
			if !slices.Contains(ts, t) {
				ts = append(ts, t)
			}
		}
		return ts
	})
}

// Leave stops following topics, reconnecting at once as Join does.
func (s *Subscriber) Leave(topics ...string) error {
	return s.change(func(ts []string) []string {
		return slices.DeleteFunc(ts, func(t string) bool { return slices.Contains(topics, t) })
	})
}

// change applies f to the topics and, when they changed, replaces the
// connection.
func (s *Subscriber) change(f func([]string) []string) error {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.mu.Lock()
	before := slices.Clone(s.topics)
	s.topics = f(s.topics)
	if slices.Equal(before, s.topics) {
		s.mu.Unlock()
		return nil
	}
	// A Next reading the old connection drops what it reads from it, and
	// waits for this one instead of backing off.
	s.now = true
	old := s.conn
	s.conn = nil
	s.mu.Unlock()
	if old != nil {
		// The closing handshake completes in the background, within
		// WriteTimeout and defaultCloseTimeout; nothing more is taken
		// from old.
		go old.Close(StatusNormalClosure, "changing topics")
	}
	err := s.connect()
	s.mu.Lock()
	s.now = false
	s.mu.Unlock()
	return err
}

// following returns the topics followed.
func (s *Subscriber) following() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.topics)
}

// LastEventID returns the ID the next connection resumes after: that of
// the last hub message, or the one a gap notice gave.
func (s *Subscriber) LastEventID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

// reconnected returns how many times the Subscriber connected again.
func (s *Subscriber) reconnected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconnects
}

// Close ends the Subscriber with a closing handshake on the current
// connection; a Next in another goroutine returns.
func (s *Subscriber) Close() error {
	s.cancel()
	s.mu.Lock()
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	err := c.Close(StatusNormalClosure, "")
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}
