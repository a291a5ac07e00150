package main

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtime-go/realtime/ws"
)

// Defaults of a node that applies only its clients' topics (-filtered).
const (
	// DefaultLinger is how long a filtered node goes on applying a topic
	// after its last local client left, so that a client that comes back
	// at once does not make it change its consumer again. Its history
	// lasts only while the topic has clients: see sse.BrokerOptions.Filtered.
	DefaultLinger = 30 * time.Second

	// DefaultInterestWait bounds how long a client whose topic the node
	// does not apply yet waits for the node's consumer to take it (one
	// JetStream request); past it the client gets 503.
	DefaultInterestWait = 5 * time.Second
)

// errInterest means the node could not start applying a client's topics
// in time (NATS unreachable), or holds MaxTopics already.
var errInterest = errors.New("the node cannot apply these topics now")

// interest is the set of topics a filtered node applies: those its local
// clients follow, and those they left less than linger ago. The applier
// consumes exactly the subjects of that set, and recreates its consumer
// when a client comes for a topic outside it (from the last message
// applied, so that the topic's first subscription, made after, misses
// nothing: see sse.BrokerOptions.Filtered) and when a topic's linger ends.
type interest struct {
	linger time.Duration
	max    int

	mu      sync.Mutex
	refs    map[string]int       // topic -> local clients
	left    map[string]time.Time // topic with no client -> when its last left
	applied map[string]bool      // the topics of the applier's consumer
	ready   chan struct{}        // closed at the applier's next look at the set
	want    chan struct{}        // 1: the applier should look at the set again
}

func newInterest(max int, linger time.Duration) *interest {
	return &interest{
		linger: linger, max: max,
		refs: make(map[string]int), left: make(map[string]time.Time), applied: make(map[string]bool),
		ready: make(chan struct{}), want: make(chan struct{}, 1),
	}
}

// acquire counts a client of topics and returns once the applier applies
// every one of them, or with errInterest.
func (in *interest) acquire(ctx context.Context, topics []string) error {
	in.mu.Lock()
	missing := 0
	for _, t := range topics {
		if in.refs[t] == 0 && !in.applied[t] {
			missing++
		}
	}
	if missing > 0 && in.held()+missing > in.max {
		in.mu.Unlock()
		return errInterest
	}
	for _, t := range topics {
		in.refs[t]++
		delete(in.left, t)
	}
	ready := in.ready
	done := true
	for _, t := range topics {
		done = done && in.applied[t]
	}
	in.mu.Unlock()
	if done {
		return nil
	}
	in.poke()
	ctx, cancel := context.WithTimeout(ctx, DefaultInterestWait)
	defer cancel()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		in.release(topics)
		return errInterest
	}
}

// held returns how many topics the node applies or has clients waiting
// for: what MaxTopics bounds. in.mu is held.
func (in *interest) held() int {
	n := len(in.applied)
	for t := range in.refs {
		if !in.applied[t] {
			n++
		}
	}
	return n
}

// release uncounts a client of topics.
func (in *interest) release(topics []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	now := time.Now()
	for _, t := range topics {
		if in.refs[t]--; in.refs[t] <= 0 {
			delete(in.refs, t)
			in.left[t] = now
		}
	}
}

func (in *interest) poke() {
	select {
	case in.want <- struct{}{}:
	default:
	}
}

// next returns the topics the applier consumes from now on, and reports
// whether they differ from those it consumed; it closes the channel the
// clients that asked for them wait on. The applier calls it with no
// consumer running: a client whose topics it returns subscribes after the
// last message applied, and the consumer it makes starts after that
// message, so that the topic's first subscription misses nothing.
func (in *interest) next(now time.Time) (topics []string, changed bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	set := make(map[string]bool, len(in.refs)+len(in.left))
	for t := range in.refs {
		set[t] = true
	}
	for t, at := range in.left {
		if now.Sub(at) < in.linger && in.applied[t] {
			set[t] = true
		} else {
			delete(in.left, t)
		}
	}
	changed = !maps.Equal(set, in.applied)
	in.applied = set
	close(in.ready)
	in.ready = make(chan struct{})
	return slices.Sorted(maps.Keys(set)), changed
}

// expired reports whether a topic's linger ended.
func (in *interest) expired(now time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, at := range in.left {
		if now.Sub(at) >= in.linger {
			return true
		}
	}
	return false
}

// filteredConsumer creates the ordered consumer of topics, from the
// message after the last one given to the Broker and the Hub.
func (n *node) filteredConsumer(topics []string) (jetstream.Consumer, error) {
	subjects := make([]string, len(topics))
	for i, t := range topics {
		subjects[i] = n.subj.of(t)
	}
	ctx, cancel := context.WithTimeout(n.ctx, DefaultRequestTimeout)
	defer cancel()
	return n.js.OrderedConsumer(ctx, n.opts.Stream.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects:    subjects,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       n.lastAt.Load() + 1,
		InactiveThreshold: DefaultConsumerInactive,
	})
}

// applyFiltered applies the messages of the topics of n.interest, in
// parallel across topics and in the stream's order within each (see
// applyWorker), until the node stops.
func (n *node) applyFiltered() {
	pending := n.opts.PendingBytes
	if pending <= 0 {
		pending = DefaultPendingBytes
	}
	var cons jetstream.Consumer
	defer func() {
		if cons != nil {
			n.deleteConsumer(cons)
		}
	}()
	tick := time.NewTicker(n.interest.linger / 4)
	defer tick.Stop()
	for n.ctx.Err() == nil {
		next, changed := n.interest.next(time.Now())
		if changed && cons != nil {
			n.deleteConsumer(cons)
			cons = nil
		}
		if cons == nil && len(next) > 0 {
			c, err := n.filteredConsumer(next)
			if err != nil {
				n.log.Warn("consuming the node's topics", "topics", len(next), "err", err)
				select {
				case <-n.ctx.Done():
				case <-time.After(DefaultApplyRetry):
				}
				continue
			}
			cons = c
		}
		if cons == nil {
			n.pending.Store(0)
			select {
			case <-n.ctx.Done():
			case <-n.interest.want:
			case <-tick.C:
			}
			continue
		}
		n.consumeUntilChange(cons, pending, tick.C)
		// Always a new consumer: the last may have fetched messages it
		// did not apply. It starts after the last one applied.
		n.deleteConsumer(cons)
		cons = nil
	}
}

// consumeUntilChange applies cons's messages until the interest changes
// (a client for a topic it does not have, a linger that ends) or the node
// stops: it hands each to the worker of its subject, holding at most
// pending bytes in flight, and returns once every message it handed out
// is applied and readable.
func (n *node) consumeUntilChange(cons jetstream.Consumer, pending int, tick <-chan time.Time) {
	it, err := cons.Messages(pullLimits(pending))
	if err != nil {
		n.log.Warn("consuming the node's topics", "err", err)
		time.Sleep(DefaultApplyRetry)
		return
	}
	var stopped atomic.Bool
	done := make(chan struct{})
	go func() {
		defer it.Stop()
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-done:
				return
			case <-n.interest.want:
				stopped.Store(true)
				return
			case now := <-tick:
				if n.interest.expired(now) {
					stopped.Store(true)
					return
				}
			}
		}
	}()
	defer close(done)
	workers := n.opts.applyWorkers
	if workers <= 0 {
		workers = defaultApplyWorkers()
	}
	f := newInFlight(pending)
	stop := context.AfterFunc(n.ctx, f.stop)
	defer stop()
	queues := make([]chan job, workers)
	moved, stopMarks, marksDone := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for i := range queues {
		// DefaultPendingMessages in all: the node makes them with each
		// consumer. PendingBytes bounds what they hold.
		queues[i] = make(chan job, DefaultPendingMessages/workers+1)
		wg.Go(func() { n.applyWorker(queues[i], f, moved) })
	}
	go func() {
		defer close(marksDone)
		n.giveMarks(f, moved, stopMarks)
	}()
	defer func() {
		// Drained: every message handed out is applied, and readable,
		// before the interest changes (see interest.next) and the next
		// consumer starts after the last of them (lastAt).
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
		close(stopMarks)
		<-marksDone
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || n.ctx.Err() != nil || stopped.Load() {
				return
			}
			n.log.Warn("reading the stream", "err", err)
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(DefaultApplyRetry):
			}
			continue
		}
		if stopped.Load() {
			return // not applied: the next consumer starts before it
		}
		md, err := msg.Metadata()
		if err != nil {
			n.log.Warn("skipping a message without metadata", "err", err)
			continue
		}
		n.pending.Store(md.NumPending)
		k, ok := f.add(md.Sequence.Stream, len(msg.Subject())+len(msg.Data())+flightOverhead)
		if !ok {
			return // the node stops
		}
		select {
		case queues[workerOf(msg.Subject(), workers)] <- job{msg: msg, seq: md.Sequence.Stream, k: k}:
		case <-n.ctx.Done():
			return
		}
	}
}

// lease is one client's hold on its topics in a filtered node.
type lease struct {
	topics    []string
	connected atomic.Bool // a WebSocket connection that OnConnect saw: OnClose releases it
	once      sync.Once
}

type leaseKey struct{}

func (l *lease) release(in *interest) { l.once.Do(func() { in.release(l.topics) }) }

// follow wraps the Broker's or the Hub's handler: a client's topics are
// applied before its subscription is made, and for as long as it lasts.
func (n *node) follow(h http.Handler, ws bool) http.Handler {
	if n.interest == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var topics []string
		for _, t := range r.URL.Query()["topic"] {
			if validTopic(t) == nil && !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
		if len(topics) == 0 || r.Method == http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		stop := context.AfterFunc(n.ctx, cancel) // the node stops: do not wait
		err := n.interest.acquire(ctx, topics)
		stop()
		cancel()
		if err != nil {
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		l := &lease{topics: topics}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), leaseKey{}, l)))
		if !ws || !l.connected.Load() {
			l.release(n.interest) // an SSE stream ends with ServeHTTP
		}
	})
}

// wsConnected marks the lease of a WebSocket connection as OnClose's.
func wsConnected(m *ws.Member) {
	if l, ok := m.Conn().Context().Value(leaseKey{}).(*lease); ok {
		l.connected.Store(true)
	}
}

// wsClosed releases the lease of a WebSocket connection.
func (n *node) wsClosed(m *ws.Member, _ error) {
	if l, ok := m.Conn().Context().Value(leaseKey{}).(*lease); ok && n.interest != nil {
		l.release(n.interest)
	}
}
