package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/origin"
)

// Defaults for [BrokerOptions]. Each applies when its option is zero.
const (
	// DefaultHeartbeat is how long a stream may stay silent before the
	// Broker sends a comment, so that proxies and load balancers do not
	// close it as idle and a vanished client is noticed.
	DefaultHeartbeat = 15 * time.Second

	// DefaultRetry is the reconnection time sent to the browser at the
	// start of every stream.
	DefaultRetry = 2 * time.Second

	// DefaultRetryAfter is the Retry-After sent with a 503 answer when the
	// Broker is full or shutting down.
	DefaultRetryAfter = 5 * time.Second

	// DefaultMaxSubscribers is how many streams a Broker serves at once:
	// 100,000.
	DefaultMaxSubscribers = hub.DefaultMaxSubscribers

	// DefaultMaxTopics is how many topics one stream may follow: 64.
	DefaultMaxTopics = hub.DefaultMaxTopicsPerSubscriber

	// DefaultQueueSize is how many events may wait for one stream's
	// writer before the stream is ended as too slow: 1024.
	DefaultQueueSize = hub.DefaultQueueSize

	// DefaultHistorySize is how many events each topic keeps for replay:
	// 1024.
	DefaultHistorySize = hub.DefaultHistorySize

	// DefaultHistoryAge is how long an event stays in its topic's
	// history: 10 minutes.
	DefaultHistoryAge = hub.DefaultHistoryAge
)

// GapEvent is the type of the event a Broker sends when a reconnecting
// client asked to resume from an ID the history cannot serve: the client
// has missed events it will not get. Its data is a [Gap] in JSON, such as
//
//	{"lastEventId":"Xk3f-17","reason":"history exceeded"}
//
// and what the history still holds for the client's topics follows it. A
// page listens with addEventListener("gap", ...) and reloads its state.
const GapEvent = "gap"

// A Gap is the data of a [GapEvent].
type Gap struct {
	// LastEventID is the ID the client resumed from, cut to 64 bytes.
	LastEventID string `json:"lastEventId"`
	// Reason is "unknown epoch" (the server restarted without its
	// history), "history exceeded" (the events were dropped from history),
	// "malformed id" or "future id".
	Reason string `json:"reason"`
}

// BrokerOptions configure a [Broker]. The zero value is ready to use.
type BrokerOptions struct {
	// Topics returns the topics a request subscribes to. Nil means the
	// values of the "topic" query parameters (/events?topic=a&topic=b).
	// To refuse a request with a status (401 or 403 after checking
	// credentials, say), return a *StatusError; any other error answers
	// 400 Bad Request with the error's text as the body.
	Topics func(r *http.Request) ([]string, error)

	// AllowedHosts lists the host names the Broker answers to, as
	// ws.AcceptOptions.AllowedHosts does: patterns matched with path.Match
	// against the Host header (with port when it has one); a request for
	// another host gets 403 Forbidden, so that a page whose host name was
	// made to resolve to this server (DNS rebinding) cannot read its
	// streams. When it is empty, a request that arrived on a loopback
	// address is accepted only for localhost, *.localhost, 127.0.0.0/8 and
	// [::1]; other requests for any host.
	AllowedHosts []string

	// Heartbeat is how long a stream may stay silent before a comment is
	// sent. Zero means DefaultHeartbeat; negative means no heartbeats.
	Heartbeat time.Duration

	// Retry is the reconnection time sent to the browser at the start of
	// every stream. Zero means DefaultRetry; negative means none is sent.
	Retry time.Duration

	// RetryAfter is sent, in whole seconds rounded up, in the Retry-After
	// header of 503 answers. Zero means DefaultRetryAfter. A browser's
	// EventSource does not reconnect after a 503: the page decides when to
	// open a new one.
	RetryAfter time.Duration

	// WriteTimeout bounds each write and flush of a stream; a client that
	// does not take its data within it is disconnected. Zero means
	// DefaultWriteTimeout; negative means no deadline.
	//
	// On Linux, an HTTP/1.x stream's socket also gets WriteTimeout as its
	// TCP user timeout: a client that vanished without closing (its machine
	// or network gone) is dropped once the data sent to it, a heartbeat at
	// the latest, stays unacknowledged for WriteTimeout. So a vanished
	// client is freed within Heartbeat + WriteTimeout.
	WriteTimeout time.Duration

	// MaxSubscribers bounds the streams served at once; past it requests
	// get 503 Service Unavailable. Zero means DefaultMaxSubscribers.
	MaxSubscribers int

	// MaxTopics bounds the topics of one stream; past it requests get 400.
	// Zero means DefaultMaxTopics.
	MaxTopics int

	// QueueSize bounds the events waiting for one stream's writer. A
	// stream whose queue is full when an event arrives is ended (and
	// counted in Stats.SlowEnded); its client reconnects and resumes from
	// history. Zero means DefaultQueueSize.
	QueueSize int

	// HistorySize bounds the events kept per topic for replay. Zero means
	// DefaultHistorySize; negative keeps none, so every resume is a gap.
	HistorySize int

	// HistoryAge bounds how long an event is kept for replay. Zero means
	// DefaultHistoryAge.
	HistoryAge time.Duration

	// Logger, when not nil, receives a record for every stream that ends
	// on an error (at Warn for slow clients and failed writes) and, at
	// Debug, for every stream opened and closed.
	Logger *slog.Logger
}

// A Broker is an [http.Handler] that serves event streams, each subscribed
// to one or more topics, and fans every published event out to the
// streams of its topic.
//
// A GET request opens a stream (HEAD answers with the stream's headers
// only; other methods get 405). The stream starts with a retry field, then,
// when the request carries a Last-Event-ID header or a lastEventId query
// parameter, every event published after that ID to the stream's topics,
// in order. If the history cannot cover the resume, a [GapEvent] comes
// first. Live events follow, each written once to every stream with all
// other waiting events in one write and one flush. Silent streams get a
// heartbeat comment.
//
// Publish never waits for a client. A stream that falls QueueSize events
// behind, or whose write does not finish within WriteTimeout, is ended;
// the client reconnects and resumes from history.
//
// Over HTTP/1.x the Broker takes the connection over once the stream is
// accepted (with http.ResponseController's Hijack, so middleware that
// implements Unwrap is fine): it writes the response itself, headers set
// by middleware included, as a body that ends when the connection closes,
// and ServeHTTP returns at once. An idle stream then holds no net/http
// buffers and no goroutine but one parked in a read, which notices at once
// when the client goes away: about 4.5 KiB per idle stream. As a
// consequence, middleware sees ServeHTTP return before the stream ends,
// and http.Server.Shutdown does not wait for these connections: call
// Broker.Shutdown before it. HTTP/2 streams, and ResponseWriters that
// cannot be hijacked, are served from ServeHTTP's goroutine with a [Writer]
// until they end.
//
// Its methods are safe for concurrent use.
type Broker struct {
	opts BrokerOptions
	hub  *hub.Hub
	log  *slog.Logger

	mu      sync.Mutex
	active  int                  // handlers running
	idle    chan struct{}        // closed when stopped and active == 0
	streams map[stopper]struct{} // open streams, for Shutdown

	// stopped says Shutdown was called. It changes under mu, and is
	// atomic so that Publish can read it without locking.
	stopped                                atomic.Bool
	opened, refused, rejected, writeFailed atomic.Uint64
}

// NewBroker returns a Broker with the given options.
func NewBroker(opts BrokerOptions) *Broker {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.Heartbeat, DefaultHeartbeat)
	def(&opts.Retry, DefaultRetry)
	def(&opts.WriteTimeout, DefaultWriteTimeout)
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	// The hub fills in the defaults of the options it enforces; the topic
	// limit is also checked here, to answer before subscribing.
	if opts.MaxTopics <= 0 {
		opts.MaxTopics = DefaultMaxTopics
	}
	return &Broker{
		opts: opts,
		hub: hub.New(hub.Options{
			QueueSize:              opts.QueueSize,
			HistorySize:            opts.HistorySize,
			HistoryAge:             opts.HistoryAge,
			MaxSubscribers:         opts.MaxSubscribers,
			MaxTopicsPerSubscriber: opts.MaxTopics,
		}),
		log:     opts.Logger,
		idle:    make(chan struct{}),
		streams: make(map[stopper]struct{}),
	}
}

// Publish sends e to every stream subscribed to topic and keeps it in the
// topic's history. It returns the ID it gave the event (e.ID is replaced),
// unique within the Broker and ordered across all its topics. The event is
// encoded once, whatever the number of streams, and Publish never waits
// for a client.
//
// The error wraps ErrInvalidTopic, one of the Event errors of
// [Event.Validate], or is ErrClosed after Shutdown.
func (b *Broker) Publish(topic string, e Event) (id string, err error) {
	if b.stopped.Load() {
		return "", ErrClosed
	}
	e.ID = ""
	if err := e.Validate(); err != nil {
		return "", err
	}
	m, err := b.hub.Publish(topic, func(id string) []byte {
		e.ID = id
		return appendEvent(make([]byte, 0, encodedLen(&e)), &e)
	})
	if err != nil {
		if errors.Is(err, hub.ErrInvalidTopic) { // the hub checks topic
			return "", topicError(topic, err)
		}
		return "", b.hubError(err)
	}
	return m.ID, nil
}

// hubError maps an error of the hub to the package's errors.
func (b *Broker) hubError(err error) error {
	switch {
	case errors.Is(err, hub.ErrClosed):
		return ErrClosed
	case errors.Is(err, hub.ErrInvalidTopic):
		return fmt.Errorf("%w: %s", ErrInvalidTopic, hubReason(err, hub.ErrInvalidTopic))
	case errors.Is(err, hub.ErrTooManyTopics):
		return fmt.Errorf("%w: %s", ErrTooManyTopics, hubReason(err, hub.ErrTooManyTopics))
	}
	return err
}

// hubReason returns the text of err after the hub's sentinel.
func hubReason(err, sentinel error) string {
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), sentinel.Error()), ": ")
}

// checkTopic returns an error wrapping ErrInvalidTopic if name cannot be a
// topic.
func checkTopic(name string) error {
	if err := hub.ValidTopic(name); err != nil {
		return topicError(name, err)
	}
	return nil
}

// topicError turns the hub's verdict err on the topic name into an error
// that wraps ErrInvalidTopic and names the topic.
func topicError(name string, err error) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidTopic, name, hubReason(err, hub.ErrInvalidTopic))
}

// Stats are a Broker's counters. Counters only grow, except Streams.
type Stats struct {
	Streams     int    // streams open now
	Opened      uint64 // streams opened
	Refused     uint64 // requests answered 503: full or shutting down
	Rejected    uint64 // requests answered 4xx: method, topics or Topics hook
	WriteFailed uint64 // streams ended by a failed or timed out write
	SlowEnded   uint64 // streams ended because their queue was full
	Published   uint64 // events published
	Delivered   uint64 // events taken by streams' writers
	Replayed    uint64 // events sent by resumes
	Gaps        uint64 // resumes that could not be served completely
	Dropped     uint64 // events still queued when their stream ended
}

// Stats returns the Broker's counters.
func (b *Broker) Stats() Stats {
	hs := b.hub.Stats()
	return Stats{
		Streams:     hs.Subscribers,
		Opened:      b.opened.Load(),
		Refused:     b.refused.Load(),
		Rejected:    b.rejected.Load(),
		WriteFailed: b.writeFailed.Load(),
		SlowEnded:   hs.SlowEnded,
		Published:   hs.Published,
		Delivered:   hs.Delivered,
		Replayed:    hs.Replayed,
		Gaps:        hs.Gaps,
		Dropped:     hs.Dropped,
	}
}

// Shutdown stops the Broker: new requests get 503 and Publish returns
// ErrClosed; every stream writes the events already waiting for it, ends
// its response normally (browsers reconnect after their retry time, to
// this server's successor) and its handler or connection is done.
// Shutdown returns nil when every stream has ended, or ctx.Err() if ctx
// ends first; a stream stuck in a write ends within WriteTimeout. Calling
// it again waits again. Call it before http.Server.Shutdown, which neither
// waits for nor closes the connections the Broker took over.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if !b.stopped.Load() {
		b.stopped.Store(true)
		if b.active == 0 {
			close(b.idle)
		}
		for s := range b.streams {
			s.shutdown()
		}
	}
	b.mu.Unlock()
	select {
	case <-b.idle:
		b.hub.Close()
		return nil
	case <-ctx.Done():
		b.hub.Close()
		return ctx.Err()
	}
}

// A stopper is an open stream that Shutdown asks to end. Each stream has
// its own signal: a channel shared by every stream would be locked by each
// of them at every wake-up.
type stopper interface{ shutdown() }

// stopChan is the stop signal of a stream served by its handler.
type stopChan chan struct{}

func (c stopChan) shutdown() { close(c) }

// register adds s to the streams Shutdown stops; if Shutdown has begun, s
// is stopped at once.
func (b *Broker) register(s stopper) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped.Load() {
		s.shutdown()
		return
	}
	b.streams[s] = struct{}{}
}

func (b *Broker) unregister(s stopper) {
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

func (b *Broker) leave() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
	if b.stopped.Load() && b.active == 0 {
		close(b.idle)
	}
}

// ServeHTTP serves one event stream; see [Broker].
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		b.rejected.Add(1)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "sse: method "+r.Method+" not allowed: an event stream is opened with GET", http.StatusMethodNotAllowed)
		return
	}
	if err := origin.CheckHost(r, b.opts.AllowedHosts); err != nil {
		b.rejected.Add(1)
		http.Error(w, "Forbidden: sse: "+err.Error(), http.StatusForbidden)
		return
	}
	topics, err := b.topics(r)
	if err != nil {
		b.refuse(w, err)
		return
	}
	if !b.enter() {
		b.unavailable(w, "sse: server shutting down")
		return
	}
	if !b.serve(w, r, topics) {
		b.leave()
	}
}

// serve serves one stream and reports whether it handed the connection
// over to a hijacked stream, which then calls b.leave itself.
func (b *Broker) serve(w http.ResponseWriter, r *http.Request, topics []string) (handedOver bool) {
	if r.Method == http.MethodHead {
		setStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return false
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("lastEventId")
	}
	sub, replay, gap, err := b.hub.Subscribe(topics, lastID)
	if err != nil {
		switch {
		case errors.Is(err, hub.ErrTooManySubscribers):
			b.unavailable(w, "sse: too many streams open, try again later")
			return false
		case errors.Is(err, hub.ErrClosed):
			b.unavailable(w, "sse: server shutting down")
			return false
		}
		b.refuse(w, b.hubError(err))
		return false
	}
	b.opened.Add(1)
	if b.log != nil {
		b.log.LogAttrs(r.Context(), slog.LevelDebug, "sse: stream opened",
			slog.Any("topics", topics), slog.String("lastEventId", lastID), slog.String("remote", r.RemoteAddr))
	}

	sw := NewWriter(w)
	sw.WriteTimeout = b.opts.WriteTimeout
	if b.opts.Retry > 0 {
		sw.WriteRetry(b.opts.Retry)
	}
	if gap != nil {
		ev := gapEvent(gap)
		if len(replay) == 0 {
			// The client's next resume should start after everything
			// it could have seen; replayed events carry their own IDs.
			ev.ID = gap.Resume
		}
		sw.WriteEvent(ev)
	}
	for _, m := range replay {
		sw.appendRaw(m.Data)
	}
	if r.ProtoMajor == 1 {
		if conn, _, err := sw.rc.Hijack(); err == nil {
			b.takeOver(r, conn, sw, sub)
			return true
		}
	}
	defer sub.Close()
	err = sw.Flush()
	if err == nil {
		stop := make(stopChan)
		b.register(stop)
		err = b.stream(r.Context(), sw, sub, stop)
		b.unregister(stop)
	}
	b.ended(r.RemoteAddr, sw.Err() != nil, err)
	return false
}

// gapEvent returns the event that reports g.
func gapEvent(g *hub.Gap) Event {
	id := g.LastID
	if len(id) > hub.MaxIDLength {
		id = id[:hub.MaxIDLength]
	}
	data, _ := json.Marshal(Gap{LastEventID: id, Reason: g.Reason}) // cannot fail
	return Event{Type: GapEvent, Data: string(data)}
}

// errClientGone and errShutdown end a stream without a failure.
var (
	errClientGone = errors.New("sse: client went away")
	errShutdown   = errors.New("sse: broker shut down")
)

// keepMsgs is the largest message slice a stream keeps between wakes.
const keepMsgs = 64

// stream writes the subscriber's events until the stream ends, and returns
// why.
func (b *Broker) stream(ctx context.Context, sw *Writer, sub *hub.Subscriber, stop stopChan) error {
	var beat <-chan time.Time
	var timer *time.Timer
	if b.opts.Heartbeat > 0 {
		timer = time.NewTimer(b.opts.Heartbeat)
		defer timer.Stop()
		beat = timer.C
	}
	var msgs []*hub.Message
	for {
		select {
		case <-sub.Ready():
			msgs = sub.Take(msgs)
			if err := writeMsgs(sw.send, msgs); err != nil {
				return err
			}
			if cap(msgs) > keepMsgs {
				msgs = nil
			}
		case <-beat:
			if err := sw.send(heartbeatComment); err != nil {
				return err
			}
			timer.Reset(b.opts.Heartbeat)
			continue
		case <-sub.Done():
			return sub.Err()
		case <-ctx.Done():
			return errClientGone
		case <-stop:
			if err := writeMsgs(sw.send, sub.Take(msgs)); err != nil {
				return err
			}
			return errShutdown
		}
		if timer != nil {
			timer.Reset(b.opts.Heartbeat)
		}
	}
}

// writeMsgs sends the encoded msgs with one call of send, as every drain
// of a stream does, handler-served or taken over: a lone message's bytes
// as they are, several joined in a buffer from bufPool.
func writeMsgs(send func([]byte) error, msgs []*hub.Message) error {
	switch len(msgs) {
	case 0:
		return nil
	case 1:
		return send(msgs[0].Data) // already encoded: no copy
	}
	buf := getBuf()
	for _, m := range msgs {
		*buf = append(*buf, m.Data...)
	}
	err := send(*buf)
	putBuf(buf)
	return err
}

// heartbeatComment is the comment sent on a silent stream.
var heartbeatComment = []byte(":\n")

// ended counts and logs how a stream ended; writeFailed says whether a
// write or flush failed.
func (b *Broker) ended(remote string, writeFailed bool, err error) {
	level, msg := slog.LevelDebug, "sse: stream closed"
	switch {
	case errors.Is(err, hub.ErrSlowSubscriber):
		level, msg = slog.LevelWarn, "sse: stream ended: client too slow, queue full"
	case writeFailed && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT)):
		b.writeFailed.Add(1)
		level, msg = slog.LevelWarn, "sse: stream ended: write failed"
	case writeFailed:
		// The client went away while a write was under way: as ordinary
		// as a close seen by the read, so it is not worth a warning.
		b.writeFailed.Add(1)
		msg = "sse: stream ended: client gone during a write"
	}
	if b.log != nil {
		b.log.LogAttrs(context.Background(), level, msg, slog.Any("reason", err), slog.String("remote", remote))
	}
}

// topics returns the topics r asks for, checked.
func (b *Broker) topics(r *http.Request) ([]string, error) {
	var topics []string
	if b.opts.Topics != nil {
		var err error
		if topics, err = b.opts.Topics(r); err != nil {
			return nil, err
		}
	} else {
		topics = r.URL.Query()["topic"]
	}
	if len(topics) == 0 {
		return nil, errors.New("sse: no topic: name at least one, as in ?topic=name")
	}
	if len(topics) > b.opts.MaxTopics {
		return nil, fmt.Errorf("%w: %d topics, at most %d", ErrTooManyTopics, len(topics), b.opts.MaxTopics)
	}
	for _, t := range topics {
		if err := checkTopic(t); err != nil {
			return nil, err
		}
	}
	return topics, nil
}

// refuse answers a request that cannot be served with err's status.
func (b *Broker) refuse(w http.ResponseWriter, err error) {
	b.rejected.Add(1)
	var se *StatusError
	if errors.As(err, &se) {
		for k, v := range se.Header {
			w.Header()[k] = v
		}
		http.Error(w, se.body(), se.Code)
		return
	}
	http.Error(w, err.Error(), http.StatusBadRequest)
}

// unavailable answers 503 with Retry-After.
func (b *Broker) unavailable(w http.ResponseWriter, msg string) {
	b.refused.Add(1)
	secs := int64((b.opts.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	http.Error(w, msg, http.StatusServiceUnavailable)
}
