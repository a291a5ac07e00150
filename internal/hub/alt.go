package hub

import "sync"

// altEncoding is a message's alternate encoding, built once.
type altEncoding struct {
	once sync.Once
	data []byte
}

// Alt returns an alternate encoding of m.Data (a compressed frame, say),
// built by build the first time any caller asks and shared from then on:
// build runs once per message however many goroutines ask at once, and
// never for a message no one asks it of. Every caller must pass an
// equivalent build; it must not keep or change its argument. The
// encoding lives as long as the message and is not counted in
// HistoryBytes.
func (m *Message) Alt(build func(data []byte) []byte) []byte {
	a := m.alt.Load()
	if a == nil {
		m.alt.CompareAndSwap(nil, new(altEncoding))
		a = m.alt.Load()
	}
	a.once.Do(func() { a.data = build(m.Data) })
	return a.data
}
