package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the node's view of the stream, which /healthz reports.
const (
	// DefaultWatchInterval is how often a node reads the stream's state:
	// its last sequence, for the lag, and its creation time, to notice a
	// stream created again.
	DefaultWatchInterval = time.Second

	// DefaultMaxLag is how many messages a node may be behind the stream
	// and still be ready: past it /healthz answers 503.
	DefaultMaxLag = 1000

	// staleAfter is how many watch intervals without a fresh read of the
	// stream make the node not ready.
	staleAfter = 5
)

// streamStatus is what the node last read of the stream.
type streamStatus struct {
	at          time.Time // when it was read
	first, last uint64    // the stream's first and last sequences
	err         error     // why the last read failed, or nil
}

// watch reads the stream's state every WatchInterval until the node stops.
func (n *node) watch() {
	every := n.opts.WatchInterval
	if every <= 0 {
		every = DefaultWatchInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if err := n.readStream(); errors.Is(err, errStreamRecreated) {
			n.fail(err)
			return
		}
	}
}

// readStream reads the stream's state once.
func (n *node) readStream() error {
	ctx, cancel := context.WithTimeout(n.ctx, DefaultRequestTimeout)
	defer cancel()
	info, err := n.stream.Info(ctx)
	prev := n.status.Load()
	if err != nil {
		n.status.Store(&streamStatus{at: prev.at, first: prev.first, last: prev.last, err: err})
		return err
	}
	if !info.Created.Equal(n.created) {
		return fmt.Errorf("%w (created %v, was %v)", errStreamRecreated, info.Created, n.created)
	}
	n.status.Store(&streamStatus{at: time.Now(), first: info.State.FirstSeq, last: info.State.LastSeq})
	return nil
}

// health is the answer of /healthz.
type health struct {
	Node    string `json:"node"`
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason,omitempty"` // why it is not ready
	Stream  string `json:"stream"`
	Epoch   string `json:"epoch"`
	NATS    string `json:"nats"`    // the NATS connection's status
	LastSeq uint64 `json:"lastSeq"` // the stream's last sequence, as last read
	Applied uint64 `json:"applied"` // the last sequence this node applied
	Lag     uint64 `json:"lag"`     // lastSeq - applied; filtered: messages of its topics not delivered yet
	MaxLag  uint64 `json:"maxLag"`
	Age     string `json:"age"` // how long ago the stream was read
	// Replays counts the resumes (in calls of about 1 MiB) that this
	// node served from JetStream because its own history could not.
	Replays uint64 `json:"replays"`
}

// health reports the node's state; see serveHealth.
func (n *node) health() health {
	st := n.status.Load()
	applied := n.applied.Load()
	maxLag := n.opts.MaxLag
	if maxLag == 0 {
		maxLag = DefaultMaxLag
	}
	h := health{
		Node:    n.name,
		Stream:  n.opts.Stream.Name,
		Epoch:   n.epoch,
		NATS:    n.nc.Status().String(),
		LastSeq: st.last,
		Applied: applied,
		Lag:     st.last - min(st.last, applied),
		MaxLag:  maxLag,
		Age:     time.Since(st.at).Round(time.Millisecond).String(),
		Replays: n.hist.calls.Load(),
	}
	if n.opts.Filtered {
		h.Lag = n.pending.Load() // of its topics: it does not apply the others
	}
	every := n.opts.WatchInterval
	if every <= 0 {
		every = DefaultWatchInterval
	}
	switch {
	case n.Err() != nil:
		h.Reason = n.Err().Error()
	case n.nc.Status() != nats.CONNECTED:
		h.Reason = "not connected to NATS"
	case st.err != nil && errors.Is(st.err, jetstream.ErrStreamNotFound):
		h.Reason = "the stream does not exist"
	case time.Since(st.at) > staleAfter*every:
		h.Reason = fmt.Sprintf("the stream's state could not be read for %v", time.Since(st.at).Round(time.Second))
	case !n.caughtUp.Load():
		h.Reason = "catching up with the stream"
	case h.Lag > maxLag:
		h.Reason = fmt.Sprintf("%d messages behind the stream", h.Lag)
	default:
		h.Ready = true
	}
	return h
}

// serveHealth answers /healthz: 200 when the node is ready (connected,
// caught up with the stream once since it started, and at most MaxLag
// messages behind it), 503 otherwise, with a health in JSON either way.
func (n *node) serveHealth(w http.ResponseWriter, _ *http.Request) {
	h := n.health()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !h.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(h)
}
