package ws

import (
	"bufio"
	"encoding/binary"
	"io"
)

// Opcodes of RFC 6455, section 5.2.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxControlPayload is the largest payload of a control frame.
const maxControlPayload = 125

// frame is a frame as x/net/websocket's frame reader hands it over: Read
// gives the unmasked payload, HeaderReader the raw header bytes. Reading
// uses its own allocation-free reader (payload) instead.
type frame interface {
	io.Reader
	HeaderReader() io.Reader
}

// payload reads the payload of one frame from the connection's buffered
// reader, unmasking it.
type payload struct {
	br   *bufio.Reader
	key  [4]byte // zero for an unmasked frame: XOR with it changes nothing
	pos  int     // payload bytes read so far, for the key's phase
	left int64   // payload bytes still to read
}

// read reads at most len(p) bytes of the payload. At the end of the
// payload it returns 0, io.EOF; a connection that ends before gives
// io.ErrUnexpectedEOF.
func (f *payload) read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.br.Read(p)
	for i := range p[:n] {
		p[i] ^= f.key[(f.pos+i)&3]
	}
	f.pos += n
	f.left -= int64(n)
	if err == io.EOF && f.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// readFull reads exactly len(p) bytes of the payload.
func (f *payload) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := f.read(p)
		p = p[n:]
		if err != nil && len(p) > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// header is a decoded frame header.
type header struct {
	fin    bool
	rsv    byte // the three reserved bits, in place
	op     byte
	masked bool
	length int64
}

// parseHeader decodes the raw header bytes of a frame (2 to 14 bytes).
func parseHeader(b []byte) header {
	h := header{
		fin:    b[0]&0x80 != 0,
		rsv:    b[0] & 0x70,
		op:     b[0] & 0x0f,
		masked: b[1]&0x80 != 0,
		length: int64(b[1] & 0x7f),
	}
	switch {
	case h.length == 126 && len(b) >= 4:
		h.length = int64(binary.BigEndian.Uint16(b[2:4]))
	case h.length == 127 && len(b) >= 10:
		h.length = int64(binary.BigEndian.Uint64(b[2:10]) &^ (1 << 63))
	}
	return h
}

// appendFrame appends a final, unmasked server frame to dst.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	return append(appendFrameHeader(dst, op, len(payload)), payload...)
}

// appendFrameHeader appends the header of a final, unmasked server frame
// with a payload of n bytes.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	switch {
	case n <= 125:
		return append(dst, 0x80|op, byte(n))
	case n <= 0xffff:
		return append(dst, 0x80|op, 126, byte(n>>8), byte(n))
	}
	dst = append(dst, 0x80|op, 127)
	return binary.BigEndian.AppendUint64(dst, uint64(n))
}

// frameHeaderSize is the size of the header appendFrame writes for a
// payload of n bytes.
func frameHeaderSize(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// closeFrame encodes a close frame with code and reason; the reason is cut
// to fit a control frame.
func closeFrame(code StatusCode, reason string) []byte {
	if len(reason) > maxReasonLength {
		reason = truncateUTF8(reason, maxReasonLength)
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	p = append(p, reason...)
	return appendFrame(make([]byte, 0, 2+len(p)), opClose, p)
}
