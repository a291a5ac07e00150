package hub

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// snapshot is what Save writes and Load reads.
type snapshot struct {
	Version   int
	Epoch     string
	Seq       uint64
	Forgotten uint64
	Topics    []topicSnapshot
}

type topicSnapshot struct {
	Name     string
	Evicted  uint64
	Messages []*Message // gob writes them as values
}

const snapshotVersion = 2

// ErrInUse is Load's error on a hub that published or has subscribers.
var ErrInUse = errors.New("hub: load: hub in use")

// A LoadError is data that Load refused as not written by Save: Reason
// says what is wrong in words that name no package, Err is the decoder's
// error, if any. The sse and ws packages say it in their own words with
// OwnLoadError.
type LoadError struct {
	Reason string
	Err    error
}

func (e *LoadError) Error() string {
	if e.Err != nil {
		return "hub: load: " + e.Reason + ": " + e.Err.Error()
	}
	return "hub: load: " + e.Reason
}

func (e *LoadError) Unwrap() error { return e.Err }

// OwnLoadError returns err, an error of Load, in a package's words: what
// prefixes each ("sse: LoadHistory"), and inUse is the error for ErrInUse.
// Any other err is returned as it is.
func OwnLoadError(err error, what string, inUse error) error {
	var e *LoadError
	switch {
	case errors.Is(err, ErrInUse):
		return inUse
	case !errors.As(err, &e):
		return err
	case e.Err != nil:
		return fmt.Errorf("%s: not written by SaveHistory: %s: %w", what, e.Reason, e.Err)
	}
	return fmt.Errorf("%s: not written by SaveHistory: %s", what, e.Reason)
}

// Save writes the hub's epoch, sequence number and logs to w, so that a
// hub that loads them after a restart resumes clients without a gap.
// Subscribers are not saved. It saves every message whose Publish began
// before the call, once it is readable.
func (h *Hub) Save(w io.Writer) error {
	h.AwaitPublished(context.Background()) // what Publish returned is saved
	h.mu.Lock()
	// Up to the head: a message above it may still be missing a message
	// before it.
	head := h.head.Load()
	snap := snapshot{Version: snapshotVersion, Epoch: h.epoch, Seq: head, Forgotten: h.forgotten}
	h.eachTopic(func(t *topic) {
		t.mu.RLock()
		if t.log.len() > 0 || t.evicted > 0 {
			ts := topicSnapshot{Name: t.name, Evicted: min(t.evicted, head)}
			for _, m := range t.log.all() {
				if m.Seq <= head {
					ts.Messages = append(ts.Messages, m)
				}
			}
			snap.Topics = append(snap.Topics, ts)
		}
		t.mu.RUnlock()
	})
	h.mu.Unlock()
	slices.SortFunc(snap.Topics, func(a, b topicSnapshot) int { return strings.Compare(a.Name, b.Name) })
	if err := gob.NewEncoder(w).Encode(&snap); err != nil {
		return err
	}
	return nil
}

// Load replaces the epoch, sequence number and logs of h with those read
// from r, as written by Save, so that clients of the hub that saved them
// resume without a gap. It must be called before h publishes or has
// subscribers. What the hub's limits no longer allow is evicted, oldest
// first, and later resumes from before it are gaps.
func (h *Hub) Load(r io.Reader) error {
	var snap snapshot
	if err := gob.NewDecoder(r).Decode(&snap); err != nil {
		return &LoadError{Reason: "undecodable", Err: err}
	}
	if snap.Version != snapshotVersion {
		return &LoadError{Reason: fmt.Sprintf("version %d, want %d", snap.Version, snapshotVersion)}
	}
	if why := EpochProblem(snap.Epoch); why != "" {
		return &LoadError{Reason: "epoch: " + why}
	}
	now := time.Now()
	var topics []*topic
	forgotten := snap.Forgotten
	for _, ts := range snap.Topics {
		var te *TopicError
		if errors.As(ValidTopic(ts.Name), &te) {
			return &LoadError{Reason: fmt.Sprintf("topic %q: %s", ts.Name, te.Reason)}
		}
		t := &topic{name: ts.Name, evicted: ts.Evicted}
		for i := range ts.Messages {
			m := ts.Messages[i]
			if m.Seq > snap.Seq || m.Seq <= t.last.Load() || m.Topic != ts.Name {
				return &LoadError{Reason: fmt.Sprintf("message %q out of place", m.ID)}
			}
			t.append(m, &h.limits)
			t.last.Store(m.Seq)
		}
		t.trim(&h.limits, now)
		if t.log.len() == 0 {
			forgotten = max(forgotten, t.evicted)
			continue
		}
		topics = append(topics, t)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.next.Load() != 0 || len(h.all) != 0 {
		return ErrInUse
	}
	h.epoch, h.forgotten = snap.Epoch, forgotten
	h.topics.Clear() // none has messages or subscribers
	for _, t := range topics {
		h.topics.Store(t.name, t)
	}
	h.ntopics = len(topics)
	h.next.Store(snap.Seq)
	h.head.Store(snap.Seq)
	return nil
}
