// Package wstest is a raw WebSocket client for tests: it performs the
// opening handshake by hand and reads and writes single frames, including
// frames that break RFC 6455 on purpose.
package wstest

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Opcodes.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// A Frame is one frame as sent or received.
type Frame struct {
	Fin     bool
	Rsv     byte // the reserved bits in place: 0x40, 0x20, 0x10
	Op      byte
	Masked  bool
	Payload []byte
}

// Conn is a raw client connection.
type Conn struct {
	net.Conn
	R        *bufio.Reader
	Response *http.Response
}

// Dial connects to the ws:// or http:// URL u and performs the opening
// handshake with the extra header h. A Host in h replaces the URL's host
// in the Host header (the connection still goes to the URL's host). It
// returns the response for any status; Conn is nil unless the status is
// 101.
func Dial(u string, h http.Header) (*Conn, *http.Response, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, nil, err
	}
	nc, err := net.DialTimeout("tcp", pu.Host, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	var kb [16]byte
	rand.Read(kb[:])
	key := base64.StdEncoding.EncodeToString(kb[:])
	var b strings.Builder
	host := pu.Host
	if v := h.Get("Host"); v != "" {
		host = v
	}
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", pu.RequestURI(), host)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	for k, vs := range h {
		if http.CanonicalHeaderKey(k) == "Host" {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, b.String()); err != nil {
		nc.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	nc.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, resp.Body)
		nc.Close()
		return nil, resp, nil
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		nc.Close()
		return nil, resp, fmt.Errorf("wstest: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return &Conn{Conn: nc, R: br, Response: resp}, resp, nil
}

// Encode returns the bytes of f, masked with a random key when f.Masked.
func Encode(f Frame) []byte {
	b := []byte{f.Rsv | f.Op, 0}
	if f.Fin {
		b[0] |= 0x80
	}
	if f.Masked {
		b[1] = 0x80
	}
	n := len(f.Payload)
	switch {
	case n <= 125:
		b[1] |= byte(n)
	case n <= 0xffff:
		b[1] |= 126
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b[1] |= 127
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !f.Masked {
		return append(b, f.Payload...)
	}
	var key [4]byte
	rand.Read(key[:])
	b = append(b, key[:]...)
	for i, c := range f.Payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// Header returns just the header of a masked frame announcing a payload
// of n bytes, its length in the fewest bytes, with a zero masking key, for
// tests that never send the payload.
func Header(fin bool, op byte, n uint64) []byte {
	b := []byte{op, 0x80}
	if fin {
		b[0] |= 0x80
	}
	switch {
	case n <= 125:
		b[1] |= byte(n)
	case n <= 0xffff:
		b[1] |= 126
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b[1] |= 127
		b = binary.BigEndian.AppendUint64(b, n)
	}
	return append(b, 0, 0, 0, 0)
}

// Masked returns a final, masked frame.
func Masked(op byte, payload []byte) Frame {
	return Frame{Fin: true, Op: op, Masked: true, Payload: payload}
}

// ClosePayload returns the payload of a close frame.
func ClosePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// WriteFrames writes the frames in one write.
func (c *Conn) WriteFrames(fs ...Frame) error {
	var b []byte
	for _, f := range fs {
		b = append(b, Encode(f)...)
	}
	_, err := c.Write(b)
	return err
}

// ReadFrame reads one frame.
func (c *Conn) ReadFrame() (Frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.R, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Fin: h[0]&0x80 != 0, Rsv: h[0] & 0x70, Op: h[0] & 0x0f, Masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.R, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.R, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 64<<20 {
		return f, fmt.Errorf("wstest: frame of %d bytes", n)
	}
	var key [4]byte
	if f.Masked {
		if _, err := io.ReadFull(c.R, key[:]); err != nil {
			return f, err
		}
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(c.R, f.Payload); err != nil {
		return f, err
	}
	if f.Masked {
		for i := range f.Payload {
			f.Payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// ReadMessage reads frames until a whole data message, skipping pings
// (answered with pongs) and pongs. A close frame ends it with a *CloseFrame
// error.
func (c *Conn) ReadMessage() (op byte, data []byte, err error) {
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return 0, nil, err
		}
		switch f.Op {
		case OpPing:
			if err := c.WriteFrames(Masked(OpPong, f.Payload)); err != nil {
				return 0, nil, err
			}
			continue
		case OpPong:
			continue
		case OpClose:
			return 0, nil, ParseClose(f.Payload)
		case OpText, OpBinary:
			op = f.Op
		}
		data = append(data, f.Payload...)
		if f.Fin {
			return op, data, nil
		}
	}
}

// A CloseFrame is a close frame received.
type CloseFrame struct {
	Code   int // 1005 when the frame has no code
	Reason string
}

func (e *CloseFrame) Error() string { return fmt.Sprintf("close frame %d %q", e.Code, e.Reason) }

// ParseClose decodes a close payload.
func ParseClose(p []byte) *CloseFrame {
	if len(p) < 2 {
		return &CloseFrame{Code: 1005}
	}
	return &CloseFrame{Code: int(binary.BigEndian.Uint16(p)), Reason: string(p[2:])}
}

// ExpectEOF reads until the server closes the connection, and reports an
// error if anything but EOF ends it first, frames included.
func (c *Conn) ExpectEOF() error {
	b, err := io.ReadAll(c.R)
	if len(b) > 0 {
		return fmt.Errorf("wstest: %d more bytes before EOF", len(b))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
