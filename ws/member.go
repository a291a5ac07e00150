package ws

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/realtime-go/realtime/internal/hub"
)

// A Member is one connection of a Hub: the Conn, the topics it follows,
// and the Hub's wire protocol (realtime.v1) on it. The Hub's hooks get
// it; Join, Leave, Send and SendJSON are safe from any goroutine, during
// the hooks and after them.
//
// Its Conn is a plain WebSocket connection that the Hub reads: close it,
// and keep what is known of the member in its context, through Conn; send
// with the Member's Send and SendJSON, which say to a realtime.v1 client
// that the message is for it alone.
type Member struct {
	conn *Conn
	hub  *Hub
	sub  *hub.Subscriber

	msgs []*hub.Message // the writer's: the hub messages of the batch being written
}

// Conn returns the member's connection.
func (m *Member) Conn() *Conn { return m.conn }

// Join adds topics, without replay: the member gets their messages
// published from then on. On a connection that ended it fails with an
// error wrapping ErrClosed.
func (m *Member) Join(topics ...string) error {
	m.conn.mu.Lock()
	ended := m.conn.ended // the context may end before the subscriber does
	m.conn.mu.Unlock()
	if ended {
		return fmt.Errorf("ws: join: %w: connection closed", ErrClosed)
	}
	if err := m.sub.Join(topics...); err != nil {
		return fmt.Errorf("ws: join: %w", hubError(err))
	}
	return nil
}

// Leave removes topics; topics the member does not follow are ignored.
func (m *Member) Leave(topics ...string) {
	m.sub.Leave(topics...)
}

// Topics returns the topics the member follows, sorted.
func (m *Member) Topics() []string { return m.sub.Topics() }

// Send sends a message to this member alone, as Conn.Send does: without
// waiting, within AcceptOptions.SendBuffer. On a realtime.v1 connection
// it is a direct message (see the package documentation): text becomes
// {"type":"direct","data":"<text as a JSON string>"}, binary data follows
// a {"type":"direct"} header; to other clients it goes as it is. While
// the member's resume is replayed, it waits behind the replay.
func (m *Member) Send(typ MessageType, data []byte) error {
	return m.send(typ, data, false)
}

// SendJSON sends v, encoded with encoding/json, to this member alone as
// a text message, as Send does; on a realtime.v1 connection the JSON value
// itself is the data of the direct message, not a string holding it.
func (m *Member) SendJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ws: send: %w", err)
	}
	return m.send(MessageText, data, true)
}

// send builds the frame of a direct message (isJSON says text data is
// JSON) and queues it.
func (m *Member) send(typ MessageType, data []byte, isJSON bool) error {
	if err := checkMessage(typ, data); err != nil {
		return err
	}
	c := m.conn
	var f []byte
	switch {
	case c.subprotocol != Subprotocol:
		f = c.messageFrame(byte(typ), data)
	case typ == MessageBinary:
		p := make([]byte, 0, 2+len(directHeader)+len(data))
		p = binary.BigEndian.AppendUint16(p, uint16(len(directHeader)))
		p = append(p, directHeader...)
		f = c.messageFrame(opBinary, append(p, data...))
	default:
		p := make([]byte, 0, len(data)+32)
		p = append(p, `{"type":"direct","data":`...)
		p = appendData(p, data, isJSON)
		f = c.messageFrame(opText, append(p, '}'))
	}
	_, err := c.enqueue(f)
	return err
}

// The member is its connection's feed (see feed): the writer takes the
// hub's messages and gap notices from it.

func (m *Member) notify(wake func()) { m.sub.Notify(wake) }

func (m *Member) holding() bool { return m.sub.Replaying() }

func (m *Member) take(parts [][]byte) ([][]byte, bool) {
	msgs, gap := m.sub.Take(m.msgs[:0])
	if gap != nil {
		parts = append(parts, encodeGap(gap.LastID, gap.Reason, gap.Resume))
	}
	for _, msg := range msgs {
		parts = append(parts, m.conn.hubFrame(msg))
	}
	m.msgs = msgs
	return parts, len(msgs) > 0 || gap != nil
}

func (m *Member) written(err error) {
	clear(m.msgs)
	if cap(m.msgs) > keepParts {
		m.msgs = nil // a large batch's storage goes back to the garbage collector
	}
	if err != nil {
		m.hub.writeFailed.Add(1)
	}
}

func (m *Member) ended() *CloseError {
	if errors.Is(m.sub.Err(), hub.ErrClosed) {
		return goingAway()
	}
	return nil
}

func (m *Member) close() { m.sub.Close() }

// goingAway is the close of a connection whose Hub shuts down.
func goingAway() *CloseError {
	return &CloseError{Code: StatusGoingAway, Reason: "server shutting down", local: true}
}
