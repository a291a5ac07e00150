package hub

import (
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

// Save writes the hub's epoch, sequence number and logs to w, so that a
// hub that loads them after a restart resumes clients without a gap.
// Subscribers are not saved.
func (h *Hub) Save(w io.Writer) error {
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
		return fmt.Errorf("hub: save: %w", err)
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
		return fmt.Errorf("hub: load: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("hub: load: snapshot version %d, want %d", snap.Version, snapshotVersion)
	}
	if err := ValidEpoch(snap.Epoch); err != nil {
		return fmt.Errorf("hub: load: %w", err)
	}
	now := time.Now()
	var topics []*topic
	forgotten := snap.Forgotten
	for _, ts := range snap.Topics {
		if err := ValidTopic(ts.Name); err != nil {
			return fmt.Errorf("hub: load: %w", err)
		}
		t := &topic{name: ts.Name, evicted: ts.Evicted}
		for i := range ts.Messages {
			m := ts.Messages[i]
			if m.Seq > snap.Seq || m.Seq <= t.last.Load() || m.Topic != ts.Name {
				return fmt.Errorf("hub: load: message %q out of place", m.ID)
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
		return errors.New("hub: load: hub already in use")
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
