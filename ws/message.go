package ws

import (
	"encoding/binary"
	"encoding/json"
)

// The types of the protocol's text messages.
const (
	kindMessage = "message" // a message published to a topic, with an ID
	kindDirect  = "direct"  // a message the server sent to this connection alone
	kindGap     = "gap"     // a gap notice: the history could not cover the resume
)

// A Message is what a [Subscriber] read from a Hub, decoded from the wire
// protocol (see the package documentation): a published message (ID is
// set), a gap notice (Gap is set) or a message the server sent to this
// connection alone (neither).
type Message struct {
	// ID and Topic are those of a published message; empty otherwise.
	ID, Topic string

	// Type is MessageText or MessageBinary.
	Type MessageType

	// Data is, for a text message, the JSON value of its data member:
	// a JSON string for Publish and Member.Send, the value itself for
	// PublishJSON and Member.SendJSON (decode it with json.Unmarshal); for
	// a binary message, the data as it was sent. From a server that does
	// not speak realtime.v1, a direct text message is its text as it was
	// sent.
	Data []byte

	// Gap describes a gap notice; nil otherwise.
	Gap *Gap
}

// A Gap is a gap notice: messages after LastEventID are lost, and the
// history resumes after ID.
type Gap struct {
	LastEventID string `json:"lastEventId"`
	// Reason is "unknown epoch", "malformed id", "future id", "history
	// exceeded", "history unavailable" (HubOptions.History failed) or
	// "too slow" (the connection fell HubOptions.HistoryBytes behind).
	Reason string `json:"reason"`
	ID     string `json:"id"`
}

// wireText is a text message of the protocol, or its binary header.
type wireText struct {
	Type        *string          `json:"type"`
	ID          *string          `json:"id"`
	Topic       *string          `json:"topic"`
	Data        *json.RawMessage `json:"data"`
	LastEventID *string          `json:"lastEventId"`
	Reason      string           `json:"reason"`
}

// decodeMessage decodes a message from a Hub; v1 says the connection
// speaks Subprotocol. ok is false for a message of a type this version
// does not know or that does not follow the protocol, which is skipped,
// as client.js does. On a connection
// without the subprotocol, a message is taken for a hub message by its
// members (a JSON object with string "id" and "topic" and a "data"), and
// anything else is direct.
func decodeMessage(typ MessageType, p []byte, v1 bool) (m Message, ok bool) {
	m.Type = typ
	var w wireText
	data := p
	if typ == MessageText {
		if json.Unmarshal(p, &w) != nil {
			if v1 {
				return m, false
			}
			return Message{Type: typ, Data: p}, true
		}
	} else {
		n := 0
		if len(p) >= 3 && p[2] == '{' {
			n = int(binary.BigEndian.Uint16(p))
		}
		if n == 0 || 2+n > len(p) || json.Unmarshal(p[2:2+n], &w) != nil {
			if v1 {
				return m, false
			}
			return Message{Type: typ, Data: p}, true
		}
		data = p[2+n:]
	}
	kind := ""
	if w.Type != nil {
		kind = *w.Type
	}
	switch {
	case kind == kindGap && w.LastEventID != nil && typ == MessageText:
		m.Gap = &Gap{LastEventID: *w.LastEventID, Reason: w.Reason, ID: str(w.ID)}
		return m, true
	case w.ID != nil && w.Topic != nil && (v1 && kind == kindMessage || w.Type == nil && (w.Data != nil || typ == MessageBinary)):
		// Without a type, on either kind of connection: a hub message of
		// the format before version 1, replayed from a history that an
		// older version saved. On realtime.v1 every other message has one.
		m.ID, m.Topic = str(w.ID), str(w.Topic)
	case v1 && kind == kindDirect:
	case v1:
		return m, false
	default:
		return Message{Type: typ, Data: p}, true
	}
	if typ == MessageText {
		if w.Data != nil {
			data = *w.Data
		} else {
			data = nil
		}
	}
	m.Data = data
	return m, true
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
