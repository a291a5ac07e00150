package hub

import (
	"encoding/gob"
	"fmt"
	"io"
	"slices"
)

// snapshot is what Save writes and Restore reads.
type snapshot struct {
	Version int
	Epoch   string
	Seq     uint64
	Topics  []topicSnapshot
}

type topicSnapshot struct {
	Name     string
	Evicted  uint64
	Messages []Message
}

const snapshotVersion = 1

// Save writes the hub's epoch, sequence number and history to w, so that a
// hub made by Restore after a restart resumes clients without a gap.
// Subscribers are not saved.
func (h *Hub) Save(w io.Writer) error {
	h.mu.Lock()
	snap := snapshot{Version: snapshotVersion, Epoch: h.epoch, Seq: h.seq}
	for name, t := range h.topics {
		if t.history.len() == 0 && t.evicted == 0 {
			continue
		}
		ts := topicSnapshot{Name: name, Evicted: t.evicted}
		for _, m := range t.history.all() {
			ts.Messages = append(ts.Messages, *m)
		}
		snap.Topics = append(snap.Topics, ts)
	}
	h.mu.Unlock()
	slices.SortFunc(snap.Topics, func(a, b topicSnapshot) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	if err := gob.NewEncoder(w).Encode(&snap); err != nil {
		return fmt.Errorf("hub: save: %w", err)
	}
	return nil
}

// Restore returns a hub with opts whose epoch, sequence number and history
// are read from r, as written by Save. The saved epoch replaces opts.Epoch.
// History beyond opts.HistorySize is dropped, oldest first.
func Restore(r io.Reader, opts Options) (*Hub, error) {
	var snap snapshot
	if err := gob.NewDecoder(r).Decode(&snap); err != nil {
		return nil, fmt.Errorf("hub: restore: %w", err)
	}
	if snap.Version != snapshotVersion {
		return nil, fmt.Errorf("hub: restore: snapshot version %d, want %d", snap.Version, snapshotVersion)
	}
	if snap.Epoch == "" {
		return nil, fmt.Errorf("hub: restore: snapshot has no epoch")
	}
	opts.Epoch = snap.Epoch
	h := New(opts)
	h.seq = snap.Seq
	for _, ts := range snap.Topics {
		if err := ValidTopic(ts.Name); err != nil {
			return nil, fmt.Errorf("hub: restore: %w", err)
		}
		t := &topic{evicted: ts.Evicted}
		for i := range ts.Messages {
			m := ts.Messages[i]
			if m.Seq > snap.Seq || m.Topic != ts.Name {
				return nil, fmt.Errorf("hub: restore: message %q out of place", m.ID)
			}
			if h.opts.HistorySize <= 0 {
				t.evicted = m.Seq
				continue
			}
			if old := t.history.push(&m, h.opts.HistorySize); old != nil {
				t.evicted = old.Seq
			}
		}
		h.topics[ts.Name] = t
	}
	return h, nil
}
