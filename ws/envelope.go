package ws

import (
	"encoding/binary"
	"encoding/json"
)

// The envelope: how a Hub frames published messages, so that clients learn
// each message's ID and topic.
//
// A text message published with Publish(topic, MessageText, data) is a text
// frame holding a JSON object whose data is the text as a JSON string:
//
//	{"id":"Xk3fQ-12","topic":"room","data":"hello"}
//
// PublishJSON puts the JSON value itself in data:
//
//	{"id":"Xk3fQ-13","topic":"room","data":{"user":"ann","text":"hi"}}
//
// A binary message is a binary frame: a 2-byte big-endian length n, n bytes
// of the JSON object {"id":"...","topic":"..."}, then the data unchanged.
//
// A client that resumed with a lastEventId the hub cannot fully serve gets,
// before any replayed message, a gap notice:
//
//	{"type":"gap","lastEventId":"Ab12x-3","reason":"history exceeded","id":"Xk3fQ-9"}
//
// reason is "unknown epoch", "malformed id", "future id" or "history
// exceeded"; id is the ID to resume from after the notice ("" for none),
// and the messages replayed after it (those still in the history) follow.
// Envelopes never have a "type" member; the gap notice always does.

// textEnvelope returns the part of a text or JSON envelope after the ID:
// the topic and data members and the closing brace. raw data is inserted
// as it is (it is JSON); otherwise it becomes a JSON string.
func textEnvelope(topic string, data []byte, raw bool) []byte {
	b := make([]byte, 0, len(topic)+len(data)+32)
	b = append(b, `","topic":`...)
	b = appendJSONString(b, topic)
	b = append(b, `,"data":`...)
	if raw {
		b = append(b, data...)
	} else {
		b = appendJSONString(b, string(data))
	}
	return append(b, '}')
}

// encodeText returns the frame of a text envelope with id.
func encodeText(id string, rest []byte) []byte {
	n := len(`{"id":"`) + len(id) + len(rest)
	b := make([]byte, 0, frameHeaderSize(n)+n)
	b = appendFrameHeader(b, opText, n)
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	return append(b, rest...)
}

// encodeBinary returns the frame of a binary envelope.
func encodeBinary(id, topic string, data []byte) []byte {
	var hdr []byte
	hdr = append(hdr, `{"id":`...)
	hdr = appendJSONString(hdr, id)
	hdr = append(hdr, `,"topic":`...)
	hdr = appendJSONString(hdr, topic)
	hdr = append(hdr, '}')
	n := 2 + len(hdr) + len(data)
	b := make([]byte, 0, frameHeaderSize(n)+n)
	b = appendFrameHeader(b, opBinary, n)
	b = binary.BigEndian.AppendUint16(b, uint16(len(hdr)))
	b = append(b, hdr...)
	return append(b, data...)
}

// gapNotice is the JSON of a gap notice.
type gapNotice struct {
	Type        string `json:"type"`
	LastEventID string `json:"lastEventId"`
	Reason      string `json:"reason"`
	ID          string `json:"id"`
}

func encodeGap(lastID, reason, resume string) []byte {
	p, _ := json.Marshal(gapNotice{Type: "gap", LastEventID: lastID, Reason: reason, ID: resume})
	return appendFrame(nil, opText, p)
}
