package sse

import (
	"errors"
	"fmt"
	"io"

	"github.com/realtime-go/realtime/internal/hub"
)

// SaveHistory writes the Broker's event IDs and history to w, so that a
// Broker that loads them with LoadHistory after a restart resumes every
// client from its Last-Event-ID without a gap. Call it after Shutdown to
// save everything that was published.
func (b *Broker) SaveHistory(w io.Writer) error {
	if err := b.hub.Save(w); err != nil {
		return fmt.Errorf("sse: SaveHistory: %w", err)
	}
	return nil
}

// LoadHistory replaces the Broker's event IDs and history with those that
// SaveHistory wrote to r. It must be called before the Broker publishes or
// serves a stream; it fails otherwise, and on data that SaveHistory did not
// write. History beyond the Broker's history limits is dropped, oldest first,
// and a later resume from before it is a gap.
func (b *Broker) LoadHistory(r io.Reader) error {
	return hub.OwnLoadError(b.hub.Load(r), "sse: LoadHistory", errLoadInUse)
}

// errLoadInUse is LoadHistory's error on a Broker that published or
// served a stream.
var errLoadInUse = errors.New("sse: LoadHistory: the Broker has published or served a stream already")

// Epoch returns the prefix of the Broker's event IDs: "<epoch>-<seq>".
// It is BrokerOptions.Epoch, or one NewBroker chose at random, until
// LoadHistory replaces it with the saved one. A client that resumes from "<epoch>-0" gets every event the
// history holds, from the first one published, with a gap first only when
// the history has dropped some.
func (b *Broker) Epoch() string { return b.hub.Epoch() }
