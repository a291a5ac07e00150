package ws

import "io"

// SaveHistory writes the Hub's message IDs and history to w, so that a Hub
// that loads them with LoadHistory after a restart resumes every client
// from its lastEventId without a gap. Call it after Shutdown to save
// everything that was published.
func (h *Hub) SaveHistory(w io.Writer) error { return h.hub.Save(w) }

// LoadHistory replaces the Hub's message IDs and history with those that
// SaveHistory wrote to r. It must be called before the Hub publishes or
// accepts a connection; it fails otherwise, and on data that SaveHistory
// did not write. History beyond the Hub's history limits is dropped, oldest
// first, and a later resume from before it is a gap.
func (h *Hub) LoadHistory(r io.Reader) error { return h.hub.Load(r) }
