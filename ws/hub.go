package ws

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/pump"
	"github.com/realtime-go/realtime/internal/request"
)

// Defaults for [HubOptions]. Each applies when its option is zero.
const (
	// defaultMaxClients is how many connections a Hub holds at once, counting
	// handshakes in progress. Further requests get 503 Service Unavailable.
	defaultMaxClients = 10_000

	// defaultRetryAfter is the Retry-After sent with a 503 answer when the
	// Hub is full or shutting down.
	defaultRetryAfter = 5 * time.Second
)

// HubOptions configure a [Hub]. The zero value works: topics come from the
// "topic" query parameters and what clients send is read and dropped.
type HubOptions struct {
	// Conn configures every connection: origin policy, subprotocols, read
	// limit, timeouts and keep-alive. See AcceptOptions for the defaults.
	Conn AcceptOptions

	// Topics chooses the topics of a new connection, before the upgrade.
	// Nil means the values of the "topic" query parameters (none is fine:
	// the connection can Join later). To refuse the connection, return a
	// *StatusError (its status, headers and text are the answer); any
	// other error answers 400 Bad Request with the error's text, as in
	// package sse.
	Topics func(r *http.Request) ([]string, error)

	// OnConnect, when set, runs after the upgrade and before the first
	// message is read, with the request of the handshake (its context is
	// done once OnConnect returns; m.Conn().Context keeps its values).
	// What it learns of the member, it attaches with m.Conn().SetContext
	// for OnMessage and OnClose. A panic in it is logged and closes the
	// connection with 1011 (internal error).
	OnConnect func(m *Member, r *http.Request)

	// OnMessage, when set, receives every message a client sends, in order,
	// on the connection's reading goroutine: the next message is not read
	// until it returns. It may call m.Send, m.Join, m.Leave,
	// m.Conn().Close and Hub.Publish. When nil, messages are read and
	// dropped. A panic in it is logged and closes the connection with 1011
	// (internal error).
	OnMessage func(m *Member, typ MessageType, data []byte)

	// OnClose, when set, runs once per connection after it has closed, with
	// why: a *CloseError for a closing handshake; match the others with
	// errors.Is against ErrSlowConsumer, ErrPongTimeout or ErrClosed.
	// m.Conn().Context is done by then. A panic in it is logged.
	OnClose func(m *Member, err error)

	// MaxClients bounds the connections held at once; past it requests
	// get 503 Service Unavailable. Zero or negative means
	// 10,000.
	MaxClients int

	// MaxClientsPerAddr bounds the connections held at once for one client
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

	// HistoryBytes bounds each topic's history, in bytes of message frames
	// plus 128 bytes per message. It is also how far a connection may fall
	// behind (see the package doc), and Publish refuses a larger message.
	// Zero means 2 MiB.
	HistoryBytes int

	// HistorySize bounds how many messages of each topic a resume can
	// replay: a client that missed more gets a gap, then the last
	// HistorySize. Zero means no bound in messages: HistoryBytes and
	// HistoryAge bound the history. Negative keeps no history for resumes:
	// a resume after which anything was published is a gap, and nothing is
	// replayed. Live connections are bounded by HistoryBytes only.
	HistorySize int

	// HistoryAge bounds how long messages are kept for resume. Zero means
	// 10 minutes.
	HistoryAge time.Duration

	// MaxTopics bounds the topics of one connection; past it requests get
	// 400. Zero means 64.
	MaxTopics int

	// retryAfter is sent, in whole seconds rounded up, in the Retry-After
	// header of 503 and 429 answers: 5 s when zero, which only the
	// package's tests change.
	retryAfter time.Duration

	// Epoch prefixes every message ID; empty means a random one. It must
	// be 1 to 43 bytes of printable ASCII other than space; NewHub panics
	// on any other. IDs of another epoch are a gap on resume, so servers
	// that must resume each other's clients share an epoch.
	Epoch string

	// History, when set, serves the resumes that the Hub's own history
	// cannot cover, and the connections that fall more than HistoryBytes
	// behind, before they get a gap notice: see HistorySource and
	// PublishAt. Nil means none: such a resume is a gap.
	History HistorySource

	// CatchUpWait bounds how long a Hub that applies a shared stream
	// (PublishAt, SkipTo or History) takes to reach the ID a client
	// resumes from, when it is ahead of the last message applied: the
	// connection is accepted at once and gets the messages after that ID
	// as the Hub applies them; past CatchUpWait it gets a gap notice
	// ("future id") and the messages from the Hub's position then. A Hub
	// that applies no shared stream sends that notice at once. Zero means
	// 3 s; negative, no wait.
	CatchUpWait time.Duration

	// Filtered says the Hub applies a shared stream filtered by topic
	// (a node that consumes only the subjects of the topics its clients
	// follow): with PublishAt, every message of each topic that has clients,
	// in order within each, and none of the other topics. Resumes, gaps
	// and History then keep their guarantees per topic:
	//
	//   - a jump in PublishAt's numbers is other topics' messages, no
	//     topic's hole: no connection gets a gap or a replay for it;
	//   - a topic's history starts when its first client arrives, and is
	//     forgotten when its last client leaves. A resume from before the
	//     topic's first client is served by History, or is a gap;
	//   - a resume from an ID ahead of the Hub starts after that ID at
	//     once, without CatchUpWait: the filter delivers the topic's
	//     messages after it, and the client has those before it.
	//
	// PublishAt holds an message back until SkipTo, the node's watermark,
	// which it calls once every message up to that number was applied: the
	// messages then go out in order. So topics may be applied side by side
	// (a goroutine per topic, or per shard of topics), in order within
	// each. Publish is refused: the numbers are the stream's.
	//
	// The node must apply a topic's messages after the Hub's watermark at
	// the moment the topic's first client subscribes: it starts applying
	// a topic before the subscription is made (in Topics, a middleware before
	// the Hub, or before Member.Join), from no later than the watermark.
	// It is an option of the Hub rather than of each PublishAt, since
	// the guarantee is the consumer's, for the node's whole life; one
	// that does not hold it (an unfiltered stream with jumps) must leave
	// it false, and gets a hole on every topic.
	Filtered bool
}

// A StatusError carries an HTTP status: a [HubOptions.Topics] hook returns
// one to refuse a connection with that status (401 or 403 for a failed
// authorization, for example, with a WWW-Authenticate header). It is the
// same type as sse.StatusError.
type StatusError = request.StatusError

// A Hub is an http.Handler that accepts WebSocket connections and fans
// published messages out to them by topic. Each message is encoded once,
// in the envelope documented in this package, and its frame is shared by
// every connection. A client that reconnects with the last ID it saw gets
// the messages it missed from its topics' history, or a gap notice first
// when the history cannot cover them (see the package doc).
//
// Requests are refused with 503 Service Unavailable when MaxClients
// connections are open or after Shutdown, with 429 Too Many Requests past
// MaxClientsPerAddr, with 403 Forbidden for a cross-origin page or a host
// not allowed, with 426 Upgrade Required for a request that is not a
// WebSocket handshake, with 400 Bad Request for invalid topics or too
// many of them, and for a refusal of HubOptions.Topics with its
// StatusError's status (400 for any other error).
type Hub struct {
	hub     *hub.Hub
	opts    HubOptions // with the defaults applied, Conn's too
	writers *pump.Pool // run the connections' writers

	active     atomic.Int64 // connections and handshakes in progress
	mu         sync.Mutex
	open       map[*Member]struct{}
	pending    int // handshakes in progress
	shutdown   bool
	idleClosed bool
	idle       chan struct{} // closed when shut down and no connection or handshake is left

	perAddr request.PerAddr

	opened, refused, rejected, received, writeFailed atomic.Uint64
}

// NewHub returns a Hub with the given options. It panics if opts.Epoch is
// set and cannot prefix IDs, as http.ServeMux.Handle panics on an invalid
// pattern: the epoch is the program's, not a client's.
func NewHub(opts HubOptions) *Hub {
	if opts.MaxClients <= 0 {
		opts.MaxClients = defaultMaxClients
	}
	if opts.retryAfter <= 0 {
		opts.retryAfter = defaultRetryAfter
	}
	opts.Conn.Logger = cmp.Or(opts.Conn.Logger, slog.Default())
	opts.Conn = opts.Conn.withDefaults()
	opts.Conn.Subprotocols = append([]string{Subprotocol}, opts.Conn.Subprotocols...)
	h := &Hub{
		opts:    opts,
		perAddr: request.PerAddr{Max: opts.MaxClientsPerAddr},
		open:    make(map[*Member]struct{}),
		idle:    make(chan struct{}),
		writers: pump.NewPool(),
	}
	var src hub.Source
	if opts.History != nil {
		src = h.source(opts.History)
	}
	hb, err := hub.New(hub.Options{
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
		panic(fmt.Sprintf("ws: NewHub: Epoch %q: %s", opts.Epoch, hub.EpochProblem(opts.Epoch)))
	}
	h.hub = hb
	return h
}

// ServeHTTP upgrades the request and keeps the connection until it closes.
// It returns once the connection is set up; a goroutine of the Hub reads it.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n := h.active.Add(1); n > int64(h.opts.MaxClients) || !h.begin() {
		h.active.Add(-1)
		h.refused.Add(1)
		request.RetryLater(w, http.StatusServiceUnavailable, h.opts.retryAfter, "Service Unavailable: too many connections or shutting down")
		return
	}
	addr := h.clientAddr(r)
	if !h.perAddr.Acquire(addr) {
		h.mu.Lock()
		h.pending--
		h.settle()
		h.mu.Unlock()
		h.active.Add(-1)
		h.refused.Add(1)
		request.TooMany(w, h.opts.retryAfter)
		return
	}
	m, status, err := h.accept(w, r, addr)
	if err != nil {
		h.perAddr.Release(addr)
		h.mu.Lock()
		h.pending--
		h.settle()
		h.mu.Unlock()
		h.active.Add(-1)
		switch {
		case status == http.StatusServiceUnavailable:
			h.refused.Add(1)
			request.RetryLater(w, status, h.opts.retryAfter, "Service Unavailable: "+err.Error())
		case status != 0:
			h.rejected.Add(1)
			request.Refuse(w, err, status)
		default:
			h.rejected.Add(1)
		}
		return
	}
	h.opened.Add(1)
	if h.opts.OnConnect != nil {
		h.onConnect(m, r)
	}
	go h.serve(m)
}

// onConnect calls OnConnect. A panic in it is logged and closes the
// connection with 1011 (internal error), as one in OnMessage does; the
// connection is still served until it closes, which gives back its slot.
func (h *Hub) onConnect(m *Member, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			h.opts.Conn.Logger.Error("ws: panic in OnConnect", "remote", m.conn.nc.RemoteAddr().String(), "panic", v, "stack", string(debug.Stack()))
			m.conn.Close(statusInternalError, "internal error")
		}
	}()
	h.opts.OnConnect(m, r)
}

// accept checks the request, subscribes and upgrades; addr is the
// client's address (ClientAddr's). When it fails before the upgrade,
// status is the HTTP status to answer with.
func (h *Hub) accept(w http.ResponseWriter, r *http.Request, addr string) (*Member, int, error) {
	if err := checkRequest(r, &h.opts.Conn); err != nil {
		return nil, http.StatusForbidden, err
	}
	if err := upgradeRequested(r); err != nil {
		return nil, http.StatusUpgradeRequired, err // checked before any work for it
	}
	topics, lastID, err := request.Read(r, h.opts.Topics)
	if err != nil {
		return nil, http.StatusBadRequest, err // or the *StatusError's status
	}
	if len(topics) == 0 {
		lastID = "" // nothing to resume: no gap notice for what it does not follow
	}
	sub, err := h.hub.Subscribe(r.Context(), topics, lastID)
	switch {
	case errors.Is(err, hub.ErrClosed):
		return nil, http.StatusServiceUnavailable, errors.New("ws: server shutting down")
	case errors.Is(err, hub.ErrTooManySubscribers):
		return nil, http.StatusServiceUnavailable, errors.New("ws: too many connections, try again later")
	case err != nil:
		return nil, http.StatusBadRequest, hubError(err)
	}
	m := &Member{hub: h, sub: sub}
	c, err := accept(w, r, &h.opts.Conn, func(c *Conn) {
		c.addr, c.feed, m.conn = addr, m, c
		c.pump.InitIn(h.writers, c.round)
	})
	if err != nil {
		sub.Close()
		return nil, 0, err
	}
	h.mu.Lock()
	h.pending--
	h.open[m] = struct{}{}
	late := h.shutdown // Shutdown did not see this connection
	h.mu.Unlock()
	if late {
		c.queueClose(goingAway(), false)
	}
	return m, 0, nil
}

// serve reads m's connection until it closes.
func (h *Hub) serve(m *Member) {
	ctx := context.Background()
	for {
		typ, data, err := m.conn.Read(ctx)
		if err != nil {
			break
		}
		h.received.Add(1)
		if h.opts.OnMessage != nil && !h.onMessage(m, typ, data) {
			break
		}
	}
	m.conn.CloseNow()
	if h.opts.OnClose != nil {
		h.onClose(m)
	}
	h.perAddr.Release(m.conn.addr)
	h.active.Add(-1)
	h.mu.Lock()
	delete(h.open, m)
	h.settle()
	h.mu.Unlock()
}

// onMessage calls OnMessage. A panic in it is logged and closes the
// connection with 1011 (internal error), as net/http recovers a handler's; it
// reports false then.
func (h *Hub) onMessage(m *Member, typ MessageType, data []byte) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			h.opts.Conn.Logger.Error("ws: panic in OnMessage", "remote", m.conn.nc.RemoteAddr().String(), "panic", v, "stack", string(debug.Stack()))
			m.conn.Close(statusInternalError, "internal error")
			ok = false
		}
	}()
	h.opts.OnMessage(m, typ, data)
	return true
}

// onClose calls OnClose. A panic in it is logged: the connection is closed
// already, and the Hub goes on releasing it.
func (h *Hub) onClose(m *Member) {
	defer func() {
		if v := recover(); v != nil {
			h.opts.Conn.Logger.Error("ws: panic in OnClose", "remote", m.conn.nc.RemoteAddr().String(), "panic", v, "stack", string(debug.Stack()))
		}
	}()
	h.opts.OnClose(m, m.conn.cause())
}

// begin counts a handshake in progress, unless the hub is shut down.
func (h *Hub) begin() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown {
		return false
	}
	h.pending++
	return true
}

// settle signals Shutdown once no connection and no handshake is left.
// h.mu is held.
func (h *Hub) settle() {
	if h.shutdown && !h.idleClosed && h.pending == 0 && len(h.open) == 0 {
		h.idleClosed = true
		close(h.idle)
	}
}

// Publish sends data to every connection following topic, as a text
// message (data must be UTF-8) or a binary one, in the envelope documented
// in this package, and returns its ID. It never waits on a connection:
// connections read the topic's history from their own positions, and one
// that falls HistoryBytes behind gets a gap notice. data is copied. A
// message larger than HistoryBytes (with 128 bytes of overhead) is refused
// with an error, since no connection could take it before it left the
// history.
// A Filtered Hub refuses it: its numbers are the stream's (PublishAt).
func (h *Hub) Publish(topic string, typ MessageType, data []byte) (string, error) {
	encode, err := encoder(topic, typ, data)
	if err != nil {
		return "", err
	}
	return h.publish(0, topic, encode)
}

// encoder returns the function that encodes data with its ID, in the
// envelope of its type.
func encoder(topic string, typ MessageType, data []byte) (func(id string) []byte, error) {
	switch typ {
	case MessageText:
		if !utf8.Valid(data) {
			return nil, errInvalidUTF8
		}
		rest := textEnvelope(topic, data, false)
		return func(id string) []byte { return encodeText(id, rest) }, nil
	case MessageBinary:
		// encode runs before Publish returns, so data need not be copied
		// here: the frame is its copy.
		return func(id string) []byte { return encodeBinary(id, topic, data) }, nil
	}
	return nil, fmt.Errorf("ws: cannot publish a message of type %v", typ)
}

// publish publishes at seq, or at the next sequence number if seq is 0.
func (h *Hub) publish(seq uint64, topic string, encode func(string) []byte) (string, error) {
	var m *hub.Message
	var err error
	size := 0
	sized := func(id string) []byte {
		data := encode(id)
		size = len(data)
		return data
	}
	if seq == 0 {
		m, err = h.hub.Publish(topic, sized)
	} else {
		m, err = h.hub.PublishAt(seq, topic, sized)
	}
	if errors.Is(err, hub.ErrTooLarge) {
		return "", fmt.Errorf("%w: %d bytes framed, and %d of overhead, over HistoryBytes (%d)",
			errTooLarge, size, hub.MessageOverhead, cmp.Or(max(h.opts.HistoryBytes, 0), hub.DefaultHistoryBytes))
	}
	if err != nil {
		return "", hubError(err)
	}
	return m.ID, nil
}

// hubError says err, an error of the hub, in the package's words.
func hubError(err error) error {
	switch {
	case errors.Is(err, hub.ErrClosed):
		return fmt.Errorf("%w: hub shut down", ErrClosed)
	case errors.Is(err, hub.ErrUnsubscribed):
		return fmt.Errorf("%w: connection closed", ErrClosed)
	case errors.Is(err, hub.ErrInvalidTopic), errors.Is(err, hub.ErrTooManyTopics):
		return hub.OwnTopicError(err, errInvalidTopic, errTooManyTopics)
	case errors.Is(err, hub.ErrFilteredPublish):
		return errors.New("ws: Publish on a Filtered Hub: its numbers are the stream's (PublishAt)")
	case errors.Is(err, hub.ErrNoSequence):
		return fmt.Errorf("ws: no sequence number after %d: PublishAt took the last", uint64(math.MaxUint64))
	case errors.Is(err, hub.ErrStale):
		return fmt.Errorf("ws: %w", err) // ErrStale is ws's and sse's alike
	}
	return err
}

// Shutdown stops accepting connections (new requests get 503), closes
// every connection with StatusGoingAway after the messages already queued
// for it, and waits for their closing handshakes. When ctx ends first, the
// connections left are closed at once and ctx's error is returned.
// Publish returns ErrClosed once Shutdown returns; a message published
// while it runs is kept in the history (so SaveHistory saves it and
// resuming clients get it) but may miss the connections being closed.
func (h *Hub) Shutdown(ctx context.Context) error {
	// What Publish returned before Shutdown is readable before the writers
	// take their last messages (publishers encode side by side).
	h.hub.AwaitPublished(ctx)
	h.mu.Lock()
	h.shutdown = true
	h.settle()
	open := make([]*Member, 0, len(h.open))
	for m := range h.open {
		open = append(open, m)
	}
	h.mu.Unlock()
	// Each writer takes what is queued for its connection and writes it
	// with the close frame; the hub closes once they are done, so nothing
	// queued before Shutdown is lost.
	for _, m := range open {
		m.conn.queueClose(goingAway(), false)
	}
	defer h.writers.Close()
	defer h.hub.Close()
	select {
	case <-h.idle:
		return nil
	case <-ctx.Done():
	}
	h.mu.Lock()
	left := make([]*Member, 0, len(h.open))
	for m := range h.open {
		left = append(left, m)
	}
	h.mu.Unlock()
	for _, m := range left {
		m.conn.shutdown(fmt.Errorf("%w: shutdown: %w", ErrClosed, ctx.Err()))
	}
	return ctx.Err() // the connections' goroutines end on their own
}

// Stats are a Hub's counters. Counters only grow, except Clients and
// Topics, which say what is held now.
type Stats struct {
	Clients     int    // connections open now, counting handshakes in progress
	Topics      int    // topics with connections or history now
	Opened      uint64 // connections upgraded
	Refused     uint64 // requests answered 503 or 429: full, shutting down, or MaxClientsPerAddr
	Rejected    uint64 // requests refused otherwise: origin, host, topics, Topics hook, not an upgrade
	WriteFailed uint64 // connections ended by a failed or timed out write
	Published   uint64 // messages published
	Delivered   uint64 // messages taken by connections' writers, replays included
	Replayed    uint64 // messages sent again to resuming clients
	Gaps        uint64 // gap notices: resumes the history could not cover, connections that fell HistoryBytes behind
	Received    uint64 // messages read from clients
}

// Stats returns the Hub's counters.
func (h *Hub) Stats() Stats {
	s := h.hub.Stats()
	return Stats{
		Clients:     int(h.active.Load()),
		Topics:      s.Topics,
		Opened:      h.opened.Load(),
		Refused:     h.refused.Load(),
		Rejected:    h.rejected.Load(),
		WriteFailed: h.writeFailed.Load(),
		Published:   s.Published,
		Delivered:   s.Delivered,
		Replayed:    s.Replayed,
		Gaps:        s.Gaps + s.Lagged,
		Received:    h.received.Load(),
	}
}

// clientAddr returns the address r's client is counted under.
func (h *Hub) clientAddr(r *http.Request) string {
	if h.opts.ClientAddr != nil {
		return h.opts.ClientAddr(r)
	}
	return request.RemoteHost(r)
}

// Epoch returns the prefix of the Hub's message IDs.
func (h *Hub) Epoch() string { return h.hub.Epoch() }
