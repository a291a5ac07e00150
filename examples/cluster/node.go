package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Defaults of a node. Each applies when its option is zero.
const (
	// DefaultConnectTimeout bounds connecting to NATS at start.
	DefaultConnectTimeout = 5 * time.Second

	// DefaultReconnectWait is how long the node waits between attempts
	// to reconnect to NATS once connected; it tries for as long as it runs.
	DefaultReconnectWait = time.Second

	// DefaultReconnectBuffer bounds what the node's NATS connection holds
	// to send while it reconnects: 8 MiB. A publish that does not fit
	// fails at once (503, to be retried with the same ID); one that fits
	// is sent on reconnection, and its retry is then a duplicate.
	DefaultReconnectBuffer = 8 << 20

	// DefaultDrainTimeout bounds the NATS drain at shutdown.
	DefaultDrainTimeout = 5 * time.Second

	// DefaultRequestTimeout bounds each JetStream API request (stream
	// info, consumer creation) made by the node.
	DefaultRequestTimeout = 5 * time.Second

	// DefaultShutdownTimeout bounds the whole shutdown of a node.
	DefaultShutdownTimeout = 10 * time.Second

	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
)

// errStreamRecreated ends a node whose stream was deleted and created
// again: its sequence starts again from 1, so the node's Broker and Hub,
// whose epoch is the old stream's, can apply none of its messages. The
// node stops; started again, it takes the new stream's epoch.
var errStreamRecreated = errors.New("the stream was deleted and created again: restart the node")

// nodeOptions configure a node.
type nodeOptions struct {
	Name string   // shown on the page and in /healthz; "" for the listener's address
	NATS []string // NATS server URLs
	// NATSToken is the token the node gives NATS; "" for none.
	NATSToken string
	Stream    streamOptions // the stream, created if it does not exist

	// Filtered makes the node apply only the topics its clients follow
	// (and, for DefaultLinger, those they left), from the subjects of
	// those topics: see interest. Otherwise it applies the whole stream.
	Filtered bool

	Warmup      int           // see DefaultWarmup; negative: 1 (only the newest message)
	MaxLag      uint64        // see DefaultMaxLag
	CatchUpWait time.Duration // the Broker's and Hub's; 0: theirs

	PendingBytes   int           // see DefaultPendingBytes
	PublishTimeout time.Duration // see DefaultPublishTimeout
	MaxPublishBody int64         // see DefaultMaxPublishBody

	// PublishTokens are the tokens POST /publish takes, one per publisher;
	// none refuses every publish. AllowedHosts are the host names the node
	// answers to (the Broker's, the Hub's and /publish's: see
	// origin.CheckHost). MaxTopics and TopicHistoryBytes bound what the
	// node holds: see DefaultMaxTopics and DefaultTopicHistoryBytes.
	PublishTokens     []string
	AllowedHosts      []string
	MaxTopics         int
	TopicHistoryBytes int
	MaxReplays        int           // see DefaultMaxReplays
	ReplayTimeout     time.Duration // see DefaultReplayTimeout
	WatchInterval     time.Duration // see DefaultWatchInterval

	Logger *slog.Logger // nil: slog.Default()

	// linger, when set, replaces DefaultLinger: tests drop topics sooner.
	linger time.Duration

	// applyGate, when set, is called before each message is applied;
	// tests hold a node back with it. It returns an error to stop.
	applyGate func(ctx context.Context, seq uint64) error

	// applyWorkers, when set, replaces defaultApplyWorkers: tests and
	// benchmarks compare one worker with several.
	applyWorkers int
}

// A node serves one process's clients: an sse.Broker and a ws.Hub fed by
// the stream, with the page, /publish and /healthz, over NATS JetStream.
type node struct {
	name    string
	opts    nodeOptions
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	subj    subjects
	epoch   string
	created time.Time // the stream's, from which epoch comes

	broker *sse.Broker
	hub    *ws.Hub
	hist   *jsHistory
	topics *topicTable
	// interest is the set of topics a Filtered node applies; nil otherwise.
	interest *interest
	srv      *http.Server
	ln       net.Listener

	// applied is the stream sequence of the last message the applier
	// handled (applied, or skipped as unreadable; on a Filtered node, its
	// watermark: every message up to it handled); startSeq is where it
	// started, target the stream's last sequence when the node started.
	applied  atomic.Uint64
	startSeq uint64
	target   uint64
	caughtUp atomic.Bool
	status   atomic.Pointer[streamStatus]
	// lastAt is the stream sequence of the last message given to the
	// Broker and the Hub (or where they were told the stream is; on a
	// Filtered node, its watermark): a Filtered node's consumer starts
	// after it. pending is how many
	// messages of its topics its consumer has not delivered yet.
	lastAt  atomic.Uint64
	pending atomic.Uint64

	ctx     context.Context // ends at shutdown
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	ncDone  chan struct{} // closed when the NATS connection is closed
	done    chan struct{} // closed when the node fails
	failErr atomic.Pointer[error]
	once    sync.Once
}

// startNode connects to NATS, finds or creates the stream, and serves on
// ln until Shutdown. The node's Done channel is closed if it fails on its
// own: its stream recreated, or its listener failing.
func startNode(opts nodeOptions, ln net.Listener) (*node, error) {
	if len(opts.NATS) == 0 {
		return nil, errors.New("no NATS server URL")
	}
	if opts.Stream.Name == "" {
		opts.Stream.Name = DefaultStream
	}
	n := &node{
		name:   opts.Name,
		opts:   opts,
		log:    opts.Logger,
		subj:   newSubjects(opts.Stream.Name),
		ln:     ln,
		ncDone: make(chan struct{}),
		done:   make(chan struct{}),
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.name == "" {
		n.name = ln.Addr().String()
	}
	n.log = n.log.With("node", n.name)
	n.ctx, n.cancel = context.WithCancel(context.Background())

	if err := n.connect(); err != nil {
		n.cancel()
		return nil, err
	}
	if err := n.openStream(); err != nil {
		n.cancel()
		n.nc.Close()
		<-n.ncDone
		return nil, err
	}

	if n.opts.MaxTopics <= 0 {
		n.opts.MaxTopics = DefaultMaxTopics
	}
	if n.opts.TopicHistoryBytes <= 0 {
		n.opts.TopicHistoryBytes = DefaultTopicHistoryBytes
	}
	n.topics = newTopicTable(n.opts.MaxTopics, DefaultTopicTTL)
	n.hist = newJSHistory(n.js, n.opts.Stream.Name, n.subj, n.opts.MaxReplays, n.opts.ReplayTimeout, n.log)
	if n.opts.Filtered {
		linger := DefaultLinger
		if n.opts.linger > 0 {
			linger = n.opts.linger
		}
		n.interest = newInterest(n.opts.MaxTopics, linger)
	}
	n.broker = sse.NewBroker(sse.BrokerOptions{
		Filtered:     n.opts.Filtered,
		Epoch:        n.epoch,
		History:      sseHistory{n.hist},
		CatchUpWait:  n.opts.CatchUpWait,
		Logger:       n.log,
		HistoryBytes: n.opts.TopicHistoryBytes,
		AllowedHosts: n.opts.AllowedHosts,
	})
	n.hub = ws.NewHub(ws.HubOptions{
		Filtered:     n.opts.Filtered,
		Epoch:        n.epoch,
		History:      wsHistory{n.hist},
		CatchUpWait:  n.opts.CatchUpWait,
		OnConnect:    n.hello,
		OnClose:      n.wsClosed,
		HistoryBytes: n.opts.TopicHistoryBytes,
		Conn:         ws.AcceptOptions{AllowedHosts: n.opts.AllowedHosts, Logger: n.log},
	})

	cons, err := n.applierConsumer()
	if err != nil {
		n.cancel()
		n.closeNATS()
		return nil, err
	}
	n.srv = &http.Server{
		Handler:           n.routes(),
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
		ConnContext:       sse.ConnContext, // bounds what the kernel holds for a stream that does not read
	}
	if n.opts.Filtered {
		n.wg.Go(n.applyFiltered)
	} else {
		n.wg.Go(func() { n.apply(cons) })
	}
	n.wg.Go(n.watch)
	n.wg.Go(func() {
		if err := n.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			n.fail(fmt.Errorf("serve: %w", err))
		}
	})
	n.log.Info("node started", "addr", ln.Addr().String(), "stream", n.opts.Stream.Name,
		"epoch", n.epoch, "from", n.startSeq, "last", n.target)
	return n, nil
}

// connect connects to NATS, for as long as the node runs.
func (n *node) connect() error {
	nc, err := nats.Connect(joinURLs(n.opts.NATS),
		nats.Name("realtime-cluster "+n.name),
		nats.Token(n.opts.NATSToken),
		nats.Timeout(DefaultConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(DefaultReconnectWait),
		nats.ReconnectBufSize(DefaultReconnectBuffer),
		nats.DrainTimeout(DefaultDrainTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				n.log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { n.log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ClosedHandler(func(*nats.Conn) { close(n.ncDone) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { n.log.Warn("nats", "err", err) }),
	)
	if err != nil {
		return fmt.Errorf("nats %s: %w", joinURLs(n.opts.NATS), err)
	}
	n.nc = nc
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(DefaultRequestTimeout))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	n.js = js
	return nil
}

// openStream finds or creates the stream and takes its epoch.
func (n *node) openStream() error {
	ctx, cancel := context.WithTimeout(n.ctx, DefaultRequestTimeout)
	defer cancel()
	s, err := ensureStream(ctx, n.js, n.opts.Stream, n.log)
	if err != nil {
		return err
	}
	info := s.CachedInfo()
	epoch, err := epochOf(info)
	if err != nil {
		return err
	}
	n.stream, n.epoch, n.created = s, epoch, info.Created
	n.target = info.State.LastSeq
	n.status.Store(&streamStatus{at: time.Now(), first: info.State.FirstSeq, last: info.State.LastSeq})
	return nil
}

// id returns the ID every node gives the message of stream sequence seq.
func (n *node) id(seq uint64) string { return n.epoch + "-" + strconv.FormatUint(seq, 10) }

// hello tells a WebSocket client which node it is connected to, in a
// direct message (one that does not move its resume point).
func (n *node) hello(m *ws.Member, _ *http.Request) {
	wsConnected(m)
	m.SendJSON(map[string]string{"node": n.name, "epoch": n.epoch})
}

// Done is closed when the node fails on its own; Err then says why.
func (n *node) Done() <-chan struct{} { return n.done }

// Err returns why the node failed, or nil.
func (n *node) Err() error {
	if p := n.failErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (n *node) fail(err error) {
	n.once.Do(func() {
		n.log.Error("node failed", "err", err)
		n.failErr.Store(&err)
		close(n.done)
	})
}

// Shutdown stops the node: the Broker's streams and the Hub's connections
// end (clients reconnect to another node and resume there), the HTTP
// server stops, the applier and watcher stop, and the NATS connection is
// drained and closed. It returns once all of it is done or ctx ends.
func (n *node) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	var berr, herr error
	wg.Go(func() { berr = n.broker.Shutdown(ctx) })
	wg.Go(func() { herr = n.hub.Shutdown(ctx) })
	wg.Wait()
	serr := n.srv.Shutdown(ctx)
	n.cancel()
	n.wg.Wait()
	return errors.Join(berr, herr, serr, n.closeNATS())
}

// closeNATS drains the NATS connection and waits until it is closed.
func (n *node) closeNATS() error {
	err := n.nc.Drain()
	if err != nil {
		n.nc.Close()
	}
	select {
	case <-n.ncDone:
	case <-time.After(DefaultDrainTimeout + time.Second):
		n.nc.Close()
		<-n.ncDone
	}
	if err != nil {
		return fmt.Errorf("nats drain: %w", err)
	}
	return nil
}

func joinURLs(urls []string) string { return strings.Join(urls, ",") }
