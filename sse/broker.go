package sse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/pump"
	"github.com/realtime-go/realtime/internal/request"
)

// Defaults for [BrokerOptions]. Each applies when its option is zero.
const (
	// defaultHeartbeat is how long a stream may stay silent before the
	// Broker sends a comment, so that proxies and load balancers do not
	// close it as idle and a vanished client is noticed.
	defaultHeartbeat = 15 * time.Second

	// defaultRetry is the reconnection time sent to the browser at the
	// start of every stream.
	defaultRetry = 2 * time.Second

	// defaultRetryAfter is the Retry-After sent with a 503 answer when the
	// Broker is full or shutting down.
	defaultRetryAfter = 5 * time.Second

	// defaultMaxClients is how many streams a Broker serves at once, as
	// many as a Hub's connections: 10,000.
	defaultMaxClients = 10_000

	// defaultMaxTopics is how many topics one stream may follow: 64.
	defaultMaxTopics = hub.DefaultMaxTopicsPerSubscriber
)

// GapEvent is the type of the event a Broker sends when a stream misses
// events it will not get: a resume the history cannot serve, or a stream
// that fell more than HistoryBytes behind (see [Gap] for every reason). Its
// data is a Gap in JSON, such as
//
//	{"lastEventId":"Xk3f-17","reason":"history exceeded"}
//
// and what the history still holds for the stream's topics follows it. A
// page listens with addEventListener("gap", ...) and reloads its state.
const GapEvent = "gap"

// A Gap is the data of a [GapEvent].
type Gap struct {
	// LastEventID is the ID the client resumed from, cut to 64 bytes.
	LastEventID string `json:"lastEventId"`
	// Reason is "unknown epoch" (the server restarted without its
	// history), "history exceeded" (the events were dropped from history),
	// "malformed id", "future id" (ahead of every event, or of what this
	// node reached within CatchUpWait), "history unavailable" (the
	// HistorySource failed), or "too slow": the stream fell more than
	// HistoryBytes behind the newest event and missed events while it was
	// connected.
	Reason string `json:"reason"`
}

// BrokerOptions configure a [Broker]. The zero value is ready to use.
type BrokerOptions struct {
	// Topics returns the topics a request subscribes to, at least one.
	// Nil means the values of the "topic" query parameters
	// (/events?topic=a&topic=b). To refuse a request with a status (401
	// or 403 after checking credentials, say), return a *StatusError; any
	// other error answers 400 Bad Request with the error's text as the
	// body.
	Topics func(r *http.Request) ([]string, error)

	// OnConnect, when set, runs once per stream, when it is accepted and
	// before anything is written to it, with its request and its topics
	// (what Topics returned). It runs on the request's goroutine: the
	// stream starts once it returns. It is not called for a request that
	// is refused, nor for HEAD. A panic in it is logged, the client gets
	// 500 Internal Server Error and OnClose runs.
	OnConnect func(r *http.Request, topics []string)

	// OnClose, when set, runs once per stream that OnConnect was called
	// for, after the stream has ended, with the reason: ErrClientGone
	// when the client went away (or a write to it failed), ErrSlowConsumer
	// when a write did not finish within WriteTimeout, ErrClosed on
	// Shutdown, or the cause of the request's context when it ended
	// otherwise (a deadline set by middleware); match them with
	// errors.Is. The request stays valid until OnClose returns: ServeHTTP
	// returns after it, and Shutdown waits for it unless Shutdown's context
	// ends first. (With TakeOver, ServeHTTP has returned long before, so
	// r's context is done; its values stay.) A panic in it is logged.
	OnClose func(r *http.Request, err error)

	// AllowedHosts lists the host names the Broker answers to, as
	// ws.AcceptOptions.AllowedHosts does: patterns matched with path.Match
	// against the Host header (with port when it has one); a request for
	// another host gets 403 Forbidden, so that a page whose host name was
	// made to resolve to this server (DNS rebinding) cannot read its
	// streams. When it is empty, a request that arrived on a loopback
	// address is accepted only for localhost, *.localhost, 127.0.0.0/8 and
	// [::1]; other requests for any host.
	AllowedHosts []string

	// TrustedProxies lists the addresses of the server's own reverse
	// proxies. A request from one of them that carries X-Forwarded-Host
	// (httputil.ReverseProxy's SetXForwarded, Caddy; see
	// examples/PROXIES.md) is checked against AllowedHosts
	// with that host, the one the browser asked for, instead of its Host
	// header, which a proxy that rewrites Host sets to the backend's. The
	// header is ignored from anyone else. Empty means no proxy is trusted.
	TrustedProxies []netip.Prefix

	// Heartbeat is how long a stream may stay silent before a comment is
	// sent. Zero means 15 s; negative means no heartbeats.
	Heartbeat time.Duration

	// Retry is the reconnection time sent to the browser at the start of
	// every stream. Zero means 2 s; negative means none is sent.
	Retry time.Duration

	// retryAfter is sent, in whole seconds rounded up, in the Retry-After
	// header of 503 and 429 answers: 5 s when zero, which only the
	// package's tests change. A browser's
	// EventSource does not reconnect after a 503: the page decides when to
	// open a new one.
	retryAfter time.Duration

	// WriteTimeout bounds each write and flush of a stream; a client that
	// does not take its data within it is disconnected. Zero means
	// 10 s; negative means no deadline.
	//
	// On Linux, a taken-over stream's socket (see TakeOver) also gets
	// WriteTimeout as its TCP user timeout: a client that vanished without
	// closing (its machine or network gone) is dropped once the data sent
	// to it, a heartbeat at the latest, stays unacknowledged for
	// WriteTimeout. So a vanished client of a taken-over stream is freed
	// within Heartbeat + WriteTimeout; other streams notice it when a write
	// stalls, once the socket buffers are full, or at TCP's own
	// retransmission limit.
	WriteTimeout time.Duration

	// MaxClients bounds the streams served at once; past it requests
	// get 503 Service Unavailable. Zero or negative means
	// 10,000.
	MaxClients int

	// MaxClientsPerAddr bounds the streams held at once for one client
	// address (ClientAddr's), so that one client cannot take every slot;
	// past it requests get 429 Too Many Requests with Retry-After. Zero
	// means no bound: behind a proxy every client has the proxy's address,
	// so set ClientAddr before setting this.
	MaxClientsPerAddr int

	// ClientAddr returns the address a request's client is counted under
	// for MaxClientsPerAddr. Nil means the host of r.RemoteAddr. Behind a
	// proxy, read the address the proxy sets (X-Forwarded-For's last
	// entry, say) and trust only what your own proxy writes.
	ClientAddr func(r *http.Request) string

	// MaxTopics bounds the topics of one stream; past it requests get 400.
	// Zero means 64.
	MaxTopics int

	// HistoryBytes bounds each topic's history, in bytes of encoded events
	// plus 128 bytes per event. It is also how far a stream may fall
	// behind (see Broker), and Publish refuses a larger event with
	// ErrTooLarge. Zero means 2 MiB.
	HistoryBytes int

	// HistorySize bounds how many events of each topic a resume can
	// replay: a client that missed more gets a gap, then the last
	// HistorySize. Zero means no bound in events: HistoryBytes and
	// HistoryAge bound the history. Negative keeps no history for resumes:
	// a resume after which anything was published is a gap, and nothing is
	// replayed. Live streams are bounded by HistoryBytes only.
	HistorySize int

	// HistoryAge bounds how long an event is kept for replay. Zero means
	// 10 minutes.
	HistoryAge time.Duration

	// Epoch prefixes every event ID. Empty means a random one. It must be
	// 1 to 43 bytes of printable ASCII other than space; NewBroker panics
	// on any other. IDs of another epoch are a gap on resume, so servers
	// that must resume each other's clients share an epoch (and, loaded
	// with LoadHistory, a saved history takes its own).
	Epoch string

	// History, when set, serves the resumes that the Broker's own history
	// cannot cover, and the streams that fall more than HistoryBytes
	// behind, before they get a GapEvent: see HistorySource and
	// PublishAt. Nil means none: such a resume is a gap.
	History HistorySource

	// CatchUpWait bounds how long a Broker that applies a shared stream
	// (PublishAt, SkipTo or History) takes to reach the ID a client
	// resumes from, when it is ahead of the last event applied: the
	// stream is answered at once and gets the events after that ID as the
	// Broker applies them; past CatchUpWait it gets a GapEvent ("future
	// id") and the events from the Broker's position then. A Broker that
	// applies no shared stream sends that gap at once. Zero means
	// 3 s; negative, no wait.
	CatchUpWait time.Duration

	// Filtered says the Broker applies a shared stream filtered by topic
	// (a node that consumes only the subjects of the topics its clients
	// follow): with PublishAt, every event of each topic that has clients,
	// in order within each, and none of the other topics. Resumes, gaps
	// and History then keep their guarantees per topic:
	//
	//   - a jump in PublishAt's numbers is other topics' events, no
	//     topic's hole: no stream gets a gap or a replay for it;
	//   - a topic's history starts when its first client arrives, and is
	//     forgotten when its last client leaves. A resume from before the
	//     topic's first client is served by History, or is a gap;
	//   - a resume from an ID ahead of the Broker starts after that ID at
	//     once, without CatchUpWait: the filter delivers the topic's
	//     events after it, and the client has those before it.
	//
	// PublishAt holds an event back until SkipTo, the node's watermark,
	// which it calls once every event up to that number was applied: the
	// events then go out in order. So topics may be applied side by side
	// (a goroutine per topic, or per shard of topics), in order within
	// each. Publish is refused: the numbers are the stream's.
	//
	// The node must apply a topic's events after the Broker's watermark at
	// the moment the topic's first client subscribes: it starts applying
	// a topic before the subscription is made (in Topics, or a middleware
	// before the Broker), from no later than the watermark.
	// It is an option of the Broker rather than of each PublishAt, since
	// the guarantee is the consumer's, for the node's whole life; one
	// that does not hold it (an unfiltered stream with jumps) must leave
	// it false, and gets a hole on every topic.
	Filtered bool

	// TakeOver makes the Broker take HTTP/1.x connections over from
	// net/http once a stream is accepted (with http.ResponseController's
	// Hijack, so middleware that implements Unwrap is fine): it writes the
	// response itself, headers set by middleware included except those
	// that describe a body it does not write (Content-Encoding,
	// Content-Length and the like), as a body that ends when the
	// connection closes, and ServeHTTP returns at once. An idle stream
	// then holds no net/http buffers and no goroutine but one parked in a
	// read: about 6 KiB of server memory instead of about 28 (net/http's
	// buffers and two goroutines). The price: middleware sees ServeHTTP
	// return before the stream ends (access logs record no status and no
	// bytes), request contexts end with it, and
	// http.Server.Shutdown and Close neither wait for nor close these
	// connections, so Broker.Shutdown must be called (RegisterOnShutdown
	// does it). HTTP/2 streams, and ResponseWriters that cannot be
	// hijacked, are served by their handler as without TakeOver.
	TakeOver bool

	// Logger receives, at Error, every stream refused because the server
	// cannot serve it (naming the fix), a panic in OnConnect or OnClose,
	// and a HistorySource that fails or panics; at Warn, requests refused
	// for their host (naming the fix; at most one record every 10 s, which
	// counts those left out) and writes that timed out; at Debug, every
	// stream opened and closed. Nil means slog.Default().
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
// Publish never waits for a client. Every stream reads the topics'
// shared history from its own position, so a stream that falls behind
// holds nothing of its own: one that falls more than HistoryBytes behind
// gets a GapEvent and goes on, and one whose write does not finish within
// WriteTimeout is ended (the client reconnects and resumes from history).
//
// A stream lives in its handler: ServeHTTP returns when the stream ends,
// so middleware, access logs, request contexts (a deadline set by a
// timeout middleware ends the stream) and http.Server see it. To let
// http.Server.Shutdown end the streams, register the Broker's Shutdown
// with it (see the package example):
//
//	srv.RegisterOnShutdown(func() { b.Shutdown(context.Background()) })
//
// A stream needs a ResponseWriter that can flush (directly, or through
// middleware wrappers that implement Unwrap). One that cannot, such as the
// writer of http.TimeoutHandler, which buffers the whole response, is
// refused with 500 Internal Server Error before anything is sent, and the
// cause is logged. With BrokerOptions.TakeOver, HTTP/1.x streams are taken
// over from net/http instead; see there for what that trades.
//
// Its methods are safe for concurrent use.
type Broker struct {
	opts    BrokerOptions
	hub     *hub.Hub
	log     *slog.Logger
	writers *pump.Pool // run the streams' writers

	mu      sync.Mutex
	active  int                  // handlers running
	idle    chan struct{}        // closed when stopped and active == 0
	streams map[*stream]struct{} // open streams, for Shutdown
	perAddr request.PerAddr      // streams per client address

	// stopped says Shutdown was called. It changes under mu, and is
	// atomic so that Publish can read it without locking.
	stopped                                atomic.Bool
	opened, refused, rejected, writeFailed atomic.Uint64
}

// NewBroker returns a Broker with the given options. It panics if
// opts.Epoch is set and cannot prefix IDs, as http.ServeMux.Handle panics
// on an invalid pattern: the epoch is the program's, not a client's.
func NewBroker(opts BrokerOptions) *Broker {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.Heartbeat, defaultHeartbeat)
	def(&opts.Retry, defaultRetry)
	def(&opts.WriteTimeout, defaultWriteTimeout)
	if opts.retryAfter <= 0 {
		opts.retryAfter = defaultRetryAfter
	}
	// The hub fills in the defaults of the options it enforces; the topic
	// limit is also checked here, to answer before subscribing.
	if opts.MaxTopics <= 0 {
		opts.MaxTopics = defaultMaxTopics
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = defaultMaxClients
	}
	b := &Broker{
		opts:    opts,
		log:     cmp.Or(opts.Logger, slog.Default()),
		idle:    make(chan struct{}),
		streams: make(map[*stream]struct{}),
		perAddr: request.PerAddr{Max: opts.MaxClientsPerAddr},
		writers: pump.NewPool(),
	}
	var src hub.Source
	if opts.History != nil {
		src = b.source(opts.History)
	}
	h, err := hub.New(hub.Options{
		Source:                 src,
		CatchUpWait:            opts.CatchUpWait,
		Filtered:               opts.Filtered,
		HistoryBytes:           opts.HistoryBytes,
		HistorySize:            opts.HistorySize,
		HistoryAge:             opts.HistoryAge,
		MaxSubscribers:         opts.MaxClients,
		MaxTopicsPerSubscriber: opts.MaxTopics,
		Epoch:                  opts.Epoch,
	})
	if err != nil {
		panic(fmt.Sprintf("sse: NewBroker: Epoch %q: %s", opts.Epoch, hub.EpochProblem(opts.Epoch)))
	}
	b.hub = h
	return b
}

// Publish sends e to every stream subscribed to topic and keeps it in the
// topic's history. It returns the ID it gave the event (e.ID is replaced),
// unique within the Broker and ordered across all its topics. The event is
// encoded once, whatever the number of streams, and Publish never waits
// for a client.
//
// The error says what makes topic or e invalid (see [Event]'s fields),
// wraps ErrTooLarge for an event larger than HistoryBytes, or is ErrClosed
// once Shutdown has returned.
// A Filtered Broker refuses it: its numbers are the stream's (PublishAt). An event published while Shutdown runs is
// kept in the history (so SaveHistory saves it and resuming clients get
// it).
func (b *Broker) Publish(topic string, e Event) (id string, err error) {
	return b.publish(0, topic, e)
}

// publish publishes e at seq, or at the next sequence number if seq is 0.
func (b *Broker) publish(seq uint64, topic string, e Event) (id string, err error) {
	e.ID = ""
	if err := e.validate(); err != nil {
		return "", err
	}
	size := 0
	encode := func(id string) []byte {
		e.ID = id
		data := appendEvent(make([]byte, 0, encodedLen(&e)), &e)
		size = len(data)
		return data
	}
	var m *hub.Message
	if seq == 0 {
		m, err = b.hub.Publish(topic, encode)
	} else {
		m, err = b.hub.PublishAt(seq, topic, encode)
	}
	if errors.Is(err, hub.ErrTooLarge) {
		return "", fmt.Errorf("%w: %d bytes encoded, and %d of overhead, over HistoryBytes (%d)",
			ErrTooLarge, size, hub.MessageOverhead, cmp.Or(max(b.opts.HistoryBytes, 0), hub.DefaultHistoryBytes))
	}
	if err != nil {
		return "", b.hubError(err)
	}
	return m.ID, nil
}

// hubError says err, an error of the hub, in the package's words.
func (b *Broker) hubError(err error) error {
	switch {
	case errors.Is(err, hub.ErrClosed):
		return ErrClosed
	case errors.Is(err, hub.ErrInvalidTopic), errors.Is(err, hub.ErrTooManyTopics):
		return hub.OwnTopicError(err, errInvalidTopic, errTooManyTopics)
	case errors.Is(err, hub.ErrFilteredPublish):
		return errors.New("sse: Publish on a Filtered Broker: its numbers are the stream's (PublishAt)")
	case errors.Is(err, hub.ErrNoSequence):
		return fmt.Errorf("sse: no sequence number after %d: PublishAt took the last", uint64(math.MaxUint64))
	case errors.Is(err, hub.ErrStale):
		return fmt.Errorf("sse: %w", err) // ErrStale is sse's and ws's alike
	}
	return err
}

// checkTopic returns an error wrapping errInvalidTopic if name cannot be a
// topic.
func checkTopic(name string) error {
	return hub.OwnTopicError(hub.ValidTopic(name), errInvalidTopic, errTooManyTopics)
}

// Stats are a Broker's counters. Counters only grow, except Clients and
// Topics, which say what is held now.
type Stats struct {
	Clients     int    // streams open now
	Topics      int    // topics with streams or history now
	Opened      uint64 // streams opened
	Refused     uint64 // requests answered 503 or 429: full, shutting down, or MaxClientsPerAddr
	Rejected    uint64 // requests refused otherwise: method, host, topics, Topics hook, a server that cannot stream
	WriteFailed uint64 // streams ended by a failed or timed out write
	Published   uint64 // events published
	Delivered   uint64 // events taken by streams' writers, replays included
	Replayed    uint64 // events sent by resumes
	Gaps        uint64 // gap events: resumes the history could not cover, streams that fell HistoryBytes behind
}

// Stats returns the Broker's counters.
func (b *Broker) Stats() Stats {
	hs := b.hub.Stats()
	return Stats{
		Clients:     hs.Subscribers,
		Topics:      hs.Topics,
		Opened:      b.opened.Load(),
		Refused:     b.refused.Load(),
		Rejected:    b.rejected.Load(),
		WriteFailed: b.writeFailed.Load(),
		Published:   hs.Published,
		Delivered:   hs.Delivered,
		Replayed:    hs.Replayed,
		Gaps:        hs.Gaps + hs.Lagged,
	}
}

// Shutdown stops the Broker: new requests get 503, and once it returns
// Publish returns ErrClosed; every stream writes the events already
// waiting for it, ends
// its response normally (browsers reconnect after their retry time, to
// this server's successor) and its handler or connection is done.
// Shutdown returns nil when every stream has ended, or ctx.Err() if ctx
// ends first; a stream stuck in a write ends within WriteTimeout. Calling
// it again waits again. Call it before http.Server.Shutdown, which neither
// waits for nor closes the connections the Broker took over.
func (b *Broker) Shutdown(ctx context.Context) error {
	// What Publish returned before Shutdown is readable before the streams
	// take their last events (publishers encode side by side).
	b.hub.AwaitPublished(ctx)
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
		b.writers.Close()
		return nil
	case <-ctx.Done():
		b.hub.Close()
		b.writers.Close()
		return ctx.Err()
	}
}
