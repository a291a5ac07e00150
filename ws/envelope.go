package ws

import "encoding/binary"

// Subprotocol is the WebSocket subprotocol of the Hub's wire protocol,
// version 1, documented in the package documentation. A Hub chooses it
// whenever a client offers it; on such a connection every message the
// server sends says what it is: a hub message, a gap notice or a direct
// message.
const Subprotocol = "realtime.v1"

// textEnvelope returns the part of a text or JSON envelope after the ID:
// the topic and data members and the closing brace. raw data is inserted
// as it is (it is JSON); otherwise it becomes a JSON string.
func textEnvelope(topic string, data []byte, raw bool) []byte {
	b := make([]byte, 0, len(topic)+len(data)+32)
	b = append(b, `,"topic":`...)
	b = appendJSONString(b, topic)
	b = append(b, `,"data":`...)
	b = appendData(b, data, raw)
	return append(b, '}')
}

// appendData appends data as a JSON value: as it is when it is JSON
// already (raw), as a JSON string otherwise.
func appendData(b, data []byte, raw bool) []byte {
	if raw {
		return append(b, data...)
	}
	return appendJSONString(b, string(data))
}

// messagePrefix starts every text hub message, and the header of every
// binary one: the type comes first, so that a client can tell the kinds
// apart from the first bytes.
const messagePrefix = `{"type":"message","id":`

// encodeText returns the frame of a text envelope with id. The id is
// escaped like any JSON string: a HubOptions.Epoch may hold any character.
func encodeText(id string, rest []byte) []byte {
	var buf [48]byte
	q := appendJSONString(buf[:0], id)
	n := len(messagePrefix) + len(q) + len(rest)
	b := make([]byte, 0, frameHeaderSize(n)+n)
	b = appendFrameHeader(b, opText, n)
	b = append(b, messagePrefix...)
	b = append(b, q...)
	return append(b, rest...)
}

// encodeBinary returns the frame of a binary envelope.
func encodeBinary(id, topic string, data []byte) []byte {
	var hdr []byte
	hdr = append(hdr, messagePrefix...)
	hdr = appendJSONString(hdr, id)
	hdr = append(hdr, `,"topic":`...)
	hdr = appendJSONString(hdr, topic)
	hdr = append(hdr, '}')
	return binaryFrame(hdr, data)
}

// binaryFrame returns a binary frame holding the 2-byte big-endian length
// of hdr, hdr and data.
func binaryFrame(hdr, data []byte) []byte {
	n := 2 + len(hdr) + len(data)
	b := make([]byte, 0, frameHeaderSize(n)+n)
	b = appendFrameHeader(b, opBinary, n)
	b = binary.BigEndian.AppendUint16(b, uint16(len(hdr)))
	b = append(b, hdr...)
	return append(b, data...)
}

// encodeGap returns the frame of a gap notice.
func encodeGap(lastID, reason, resume string) []byte {
	p := make([]byte, 0, 64+len(lastID)+len(reason)+len(resume))
	p = append(p, `{"type":"gap","lastEventId":`...)
	p = appendJSONString(p, lastID)
	p = append(p, `,"reason":`...)
	p = appendJSONString(p, reason)
	p = append(p, `,"id":`...)
	p = appendJSONString(p, resume)
	p = append(p, '}')
	return appendFrame(nil, opText, p)
}

// directHeader is the header of a binary direct message.
const directHeader = `{"type":"direct"}`
