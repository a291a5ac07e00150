package ws

import (
	"encoding/binary"
	"encoding/json"
)

// The envelope of published messages and the gap notice are documented in
// the package documentation (doc.go).

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
