package hub

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
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
	snap := snapshot{Version: snapshotVersion, Epoch: h.opts.Epoch, Seq: h.seq}
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
	slices.SortFunc(snap.Topics, func(a, b topicSnapshot) int { return strings.Compare(a.Name, b.Name) })
	if err := gob.NewEncoder(w).Encode(&snap); err != nil {
		return fmt.Errorf("hub: save: %w", err)
	}
	return nil
}

// Load replaces the epoch, sequence number and history of h with those
// read from r, as written by Save, so that clients of the hub that saved
// them resume without a gap. It must be called before h publishes or has
// subscribers. History beyond the hub's HistorySize is dropped, oldest first.
func (h *Hub) Load(r io.Reader) error {
	var snap snapshot
	if err := gob.NewDecoder(r).Decode(&snap); err != nil {
		return fmt.Errorf("hub: load: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("hub: load: snapshot version %d, want %d", snap.Version, snapshotVersion)
	}
	if err := checkEpoch(snap.Epoch); err != nil {
		return fmt.Errorf("hub: load: %w", err)
	}
	topics := make(map[string]*topic, len(snap.Topics))
	for _, ts := range snap.Topics {
		if err := ValidTopic(ts.Name); err != nil {
			return fmt.Errorf("hub: load: %w", err)
		}
		t := &topic{evicted: ts.Evicted}
		for i := range ts.Messages {
			m := ts.Messages[i]
			if m.Seq > snap.Seq || m.Topic != ts.Name {
				return fmt.Errorf("hub: load: message %q out of place", m.ID)
			}
			t.keep(&m, h.opts.HistorySize)
		}
		topics[ts.Name] = t
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seq != 0 || len(h.all) != 0 {
		return errors.New("hub: load: hub already in use")
	}
	h.opts.Epoch, h.seq, h.topics = snap.Epoch, snap.Seq, topics
	return nil
}

// maxEpochLength leaves room in an ID of MaxIDLength bytes for "-" and
// the 20 digits of the largest sequence number.
const maxEpochLength = MaxIDLength - 21

// checkEpoch reports an epoch that could not stand in an ID as it is sent:
// empty, too long, or holding a control character (an SSE id line ends at
// CR or LF).
func checkEpoch(epoch string) error {
	switch {
	case epoch == "":
		return errors.New("snapshot has no epoch")
	case len(epoch) > maxEpochLength:
		return fmt.Errorf("epoch longer than %d bytes", maxEpochLength)
	}
	for _, r := range epoch {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("epoch holds control character %U", r)
		}
	}
	return nil
}
