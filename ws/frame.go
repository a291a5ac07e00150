package ws

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
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

// lengthViolation returns why the payload length of the raw frame header b
// breaks RFC 6455, section 5.2, or "": a 64-bit length must have its most
// significant bit clear, and every length must be in the fewest bytes (7
// bits up to 125, 16 bits up to 65535).
func lengthViolation(b []byte) string {
	switch b[1] & 0x7f {
	case 126:
		if binary.BigEndian.Uint16(b[2:4]) <= 125 {
			return "payload length not in the fewest bytes"
		}
	case 127:
		n := binary.BigEndian.Uint64(b[2:10])
		if n>>63 != 0 {
			return "64-bit payload length with its most significant bit set"
		}
		if n <= 0xffff {
			return "payload length not in the fewest bytes"
		}
	}
	return ""
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

// maskReason is why a frame is refused when its mask bit is wrong for the
// side reading it: a server reads masked frames only, a client unmasked
// ones (RFC 6455, section 5.1).
func maskReason(client bool) string {
	if client {
		return "server frame masked"
	}
	return "client frame not masked"
}

// maxMaskBuf is the largest output buffer a maskingConn keeps between
// writes.
const maxMaskBuf = 64 << 10

// maskingConn is the connection of a client Conn: the writer encodes
// frames as a server does, unmasked, and maskingConn masks them on their
// way out, as a client must (RFC 6455, section 5.3). It follows the frames
// in the byte stream, so each write may hold any part of any frame; it
// sets the mask bit of each header and inserts a fresh random key after
// it. Writes are never concurrent: one writer runs at a time.
type maskingConn struct {
	net.Conn
	hdr  [10]byte // the header being gathered
	nhdr int
	need int   // the header's length once known from its second byte
	left int64 // payload bytes of the current frame still to come
	key  [4]byte
	pos  int // offset in the payload, for the key
	out  []byte
}

// Write masks the frames in p and writes them.
func (m *maskingConn) Write(p []byte) (int, error) {
	out := m.out[:0]
	for i := 0; i < len(p); {
		if m.left > 0 {
			n := int(min(int64(len(p)-i), m.left))
			for _, b := range p[i : i+n] {
				out = append(out, b^m.key[m.pos&3])
				m.pos++
			}
			i += n
			m.left -= int64(n)
			continue
		}
		m.hdr[m.nhdr] = p[i]
		m.nhdr++
		i++
		if m.nhdr == 2 {
			switch m.hdr[1] & 0x7f {
			case 126:
				m.need = 4
			case 127:
				m.need = 10
			default:
				m.need = 2
			}
		}
		if m.nhdr == m.need {
			h := parseHeader(m.hdr[:m.nhdr])
			m.hdr[1] |= 0x80
			out = append(out, m.hdr[:m.nhdr]...)
			rand.Read(m.key[:])
			out = append(out, m.key[:]...)
			m.left, m.pos, m.nhdr, m.need = h.length, 0, 0, 0
		}
	}
	if cap(out) <= maxMaskBuf {
		m.out = out[:0]
	}
	if _, err := m.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite half-closes the connection when it can, for the closing
// handshake.
func (m *maskingConn) CloseWrite() error {
	if cw, ok := m.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
