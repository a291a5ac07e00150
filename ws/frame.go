package ws

import (
	"bufio"
	"crypto/rand"
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

// builtHeaderSize is the size of the header of a frame of n bytes that
// appendFrame built: the header is the shortest for its payload, so its
// size follows from the frame's, and the payload of a frame f built here
// is f[builtHeaderSize(len(f)):], found without reading the header.
func builtHeaderSize(n int) int {
	switch {
	case n <= 2+125:
		return 2
	case n <= 4+0xffff:
		return 4
	}
	return 10
}

// appendMaskedFrame appends a final frame as a client sends it (RFC 6455,
// section 5.3): the header with the mask bit set and a fresh random key,
// then payload masked with it. b0 is the first byte without FIN (the
// opcode, and RSV1 for a compressed message).
func appendMaskedFrame(dst []byte, b0 byte, payload []byte) []byte {
	dst = appendFrameHeader(dst, b0, len(payload))
	dst[len(dst)-frameHeaderSize(len(payload))+1] |= 0x80
	var key [4]byte
	rand.Read(key[:])
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range dst[start:] {
		dst[start+i] ^= key[i&3]
	}
	return dst
}

// appendFrame appends a final frame with opcode op and payload p in its
// final form for this connection: masked on a client's, as a server's on
// a server's. b0 may carry RSV1 besides the opcode.
func (c *Conn) appendFrame(dst []byte, b0 byte, p []byte) []byte {
	if c.client {
		return appendMaskedFrame(dst, b0, p)
	}
	return appendFrame(dst, b0, p)
}

// frameSize is the size of the frame appendFrame builds for a payload of
// n bytes.
func (c *Conn) frameSize(n int) int {
	if c.client {
		return frameHeaderSize(n) + 4 + n
	}
	return frameHeaderSize(n) + n
}

// messageFrame returns the frame of a message with opcode op and payload
// p, built once in its final form: compressed when the connection
// negotiated compression and p is worth it (see compressible), masked on
// a client's connection. p is copied.
func (c *Conn) messageFrame(op byte, p []byte) []byte {
	b0 := op
	if c.compressible(len(p)) {
		z := getCompressor()
		defer z.release()
		if zp, ok := z.compress(p); ok {
			p, b0 = zp, op|rsvCompressed
		}
	}
	return c.appendFrame(make([]byte, 0, c.frameSize(len(p))), b0, p)
}

// encodeClose returns a close frame with code and reason for this
// connection; the reason is cut to fit a control frame.
func (c *Conn) encodeClose(code StatusCode, reason string) []byte {
	if len(reason) > maxReasonLength {
		reason = truncateUTF8(reason, maxReasonLength)
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	p = append(p, reason...)
	return c.appendFrame(make([]byte, 0, c.frameSize(len(p))), opClose, p)
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
