package ws

import "encoding/binary"

// The envelope of published messages and the gap notice are documented in
// the package documentation (doc.go).

// textEnvelope returns the part of a text or JSON envelope after the ID:
// the topic and data members and the closing brace. raw data is inserted
// as it is (it is JSON); otherwise it becomes a JSON string.
func textEnvelope(topic string, data []byte, raw bool) []byte {
	b := make([]byte, 0, len(topic)+len(data)+32)
	b = append(b, `,"topic":`...)
	b = appendJSONString(b, topic)
	b = append(b, `,"data":`...)
	if raw {
		b = append(b, data...)
	} else {
		b = appendJSONString(b, string(data))
	}
	return append(b, '}')
}

// encodeText returns the frame of a text envelope with id. The id is
// escaped like any JSON string: a HubOptions.Epoch may hold any character.
func encodeText(id string, rest []byte) []byte {
	var buf [48]byte
	q := appendJSONString(buf[:0], id)
	n := len(`{"id":`) + len(q) + len(rest)
	b := make([]byte, 0, frameHeaderSize(n)+n)
	b = appendFrameHeader(b, opText, n)
	b = append(b, `{"id":`...)
	b = append(b, q...)
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
