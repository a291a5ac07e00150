package ws

import (
	"errors"
	"fmt"
	"io"

	"github.com/realtime-go/realtime/internal/hub"
)

// SaveHistory writes the Hub's message IDs and history to w, so that a Hub
// that loads them with LoadHistory after a restart resumes every client
// from its lastEventId without a gap. Call it after Shutdown to save
// everything that was published.
func (h *Hub) SaveHistory(w io.Writer) error {
	if err := h.hub.Save(w); err != nil {
		return fmt.Errorf("ws: SaveHistory: %w", err)
	}
	return nil
}

// LoadHistory replaces the Hub's message IDs and history with those that
// SaveHistory wrote to r. It must be called before the Hub publishes or
// accepts a connection; it fails otherwise, and on data that SaveHistory
// did not write. History beyond the Hub's history limits is dropped, oldest
// first, and a later resume from before it is a gap.
func (h *Hub) LoadHistory(r io.Reader) error {
	return hub.OwnLoadError(h.hub.Load(r), "ws: LoadHistory", errLoadInUse)
}

var (
	// errLoadInUse is LoadHistory's error on a Hub that published or
	// accepted a connection.
	errLoadInUse = errors.New("ws: LoadHistory: the Hub has published or accepted a connection already")
	// errTooLarge is Publish's error for a message that does not fit in
	// HistoryBytes, as sse.ErrTooLarge is the Broker's.
	errTooLarge = errors.New("ws: message too large")
)
