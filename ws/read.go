package ws

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"
)

// readGrowStep is the room a message gets for the first payload bytes
// that arrive. From there its buffer at most doubles each time it fills,
// never past what the frame being read still announces, so that memory
// follows the bytes received: a frame header alone reserves nothing, and a
// message takes at most about twice its received bytes plus readGrowStep.
const readGrowStep = 512

// lingerDiscard is the most payload the closing handshake reads and
// discards while it waits for the peer's close frame, and the most it
// reads once that came.
const lingerDiscard = 64 << 10

// Read returns the next message, with its fragments assembled. It answers
// pings and completes the closing handshake itself. Once the connection
// closes it returns, every time, the reason: a *CloseError with the peer's
// code, or with the code this side sent (1002 protocol error,
// 1007 invalid payload data or StatusMessageTooBig for a bad peer, or
// the code given to Close), or, for a connection lost without a close frame,
// one with code 1006 (abnormal closure) wrapping the network error.
//
// Canceling ctx ends the connection: a half-read message cannot be resumed.
// Read must not be called by more than one goroutine at a time.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return 0, nil, c.readErr
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.nc.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	// Wait for the next frame here, low on the stack, so that the stack of
	// an idle connection's reader stays small enough to shrink.
	c.br.Peek(1)
	typ, msg, err := c.readMessage(false)
	if err != nil {
		if ctx.Err() != nil {
			c.shutdown(ctx.Err())
			err = fmt.Errorf("ws: read: %w", ctx.Err())
		}
		c.readErr = err
		return 0, nil, err
	}
	return typ, msg, nil
}

// readMessage reads frames until a whole message or the end, or, when
// oneControl is set, until the end of the first control frame (see Ping):
// then it returns no message and no error.
func (c *Conn) readMessage(oneControl bool) (MessageType, []byte, error) {
	var (
		typ     MessageType
		msg     []byte
		inMsg   bool
		checked int  // msg[:checked] is valid UTF-8
		deflate bool // the message is compressed: msg holds its compressed bytes
		f       payload
	)
	for {
		h, err := c.nextFrame(&f)
		if v, ok := err.(protocolViolation); ok {
			return 0, nil, c.fail(statusProtocolError, string(v))
		}
		if err != nil {
			return 0, nil, c.readFailed(err)
		}
		switch {
		case h.rsv == rsvCompressed && c.compress && !inMsg && (h.op == opText || h.op == opBinary):
			// The first frame of a compressed message (RFC 7692, section 6).
			deflate = true
		case h.rsv != 0:
			return 0, nil, c.fail(statusProtocolError, reservedBitsReason(h, c.compress))
		case h.masked == c.client:
			return 0, nil, c.fail(statusProtocolError, maskReason(c.client))
		}
		switch h.op {
		case opClose, opPing, opPong:
			if !h.fin {
				return 0, nil, c.fail(statusProtocolError, "fragmented control frame")
			}
			if h.length > maxControlPayload {
				return 0, nil, c.fail(statusProtocolError, "control frame payload over 125 bytes")
			}
			var buf [maxControlPayload]byte
			p := buf[:h.length]
			if err := f.readFull(p); err != nil {
				return 0, nil, c.readFailed(err)
			}
			switch h.op {
			case opPing:
				c.queuePong(p)
			case opPong:
				c.pings.answered(p)
			case opClose:
				return 0, nil, c.handleClose(p)
			}
			if oneControl {
				return 0, nil, nil
			}
			continue
		case opText, opBinary:
			if inMsg {
				return 0, nil, c.fail(statusProtocolError, "new data frame inside a fragmented message")
			}
			inMsg, typ = true, MessageType(h.op)
		case opContinuation:
			if !inMsg {
				return 0, nil, c.fail(statusProtocolError, "continuation frame without a message to continue")
			}
		default:
			return 0, nil, c.fail(statusProtocolError, fmt.Sprintf("reserved opcode %d", h.op))
		}
		if limit := compressedLimit(c.readLimit.Load(), deflate); h.length > limit-int64(len(msg)) {
			return 0, nil, c.fail(StatusMessageTooBig, fmt.Sprintf("message over %d bytes", c.readLimit.Load()))
		}
		for remaining := h.length; remaining > 0; {
			if len(msg) == cap(msg) {
				msg = c.growForPayload(msg, remaining)
			}
			pos := len(msg)
			n, err := f.read(msg[pos:min(cap(msg), pos+int(remaining))])
			msg = msg[:pos+n]
			remaining -= int64(n)
			if typ == MessageText && n > 0 && !deflate {
				k, ok := utf8Prefix(msg[checked:])
				if !ok {
					return 0, nil, c.fail(statusInvalidFramePayloadData, "text message is not UTF-8")
				}
				checked += k
			}
			if err != nil && remaining > 0 {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return 0, nil, c.readFailed(err)
			}
		}
		if !h.fin {
			continue
		}
		if deflate {
			if msg, err = c.inflate(msg, typ); err != nil {
				return 0, nil, err
			}
			checked = len(msg)
		}
		if typ == MessageText && checked != len(msg) {
			return 0, nil, c.fail(statusInvalidFramePayloadData, "text message ends inside a UTF-8 sequence")
		}
		if c.closingNow() {
			// A close frame was sent: no data is delivered after it.
			return 0, nil, c.awaitClose()
		}
		return typ, msg, nil
	}
}

// inflate returns the decompressed message of compressed payload p, or
// fails the connection. The message may take maxInflateRatio times len(p)
// of work (see inflateWork), and more on the credit of the client's
// address.
func (c *Conn) inflate(p []byte, typ MessageType) ([]byte, error) {
	limit := max(c.readLimit.Load(), 0)
	earned := int64(len(p)) * maxInflateRatio // len(p) is at most compressedLimit
	credit := c.inflateCredit()
	reserved := credit.take(c.addr, min(limit-min(earned, limit), inflateCreditTotal)+blockWork)
	msg, work, err := inflateWork(nil, p, limit, earned+reserved)
	credit.settle(c.addr, reserved, work-earned)
	switch {
	case errors.Is(err, errInflateWork):
		return nil, c.fail(StatusPolicyViolation, fmt.Sprintf("compressed messages inflate to over %d times their size", maxInflateRatio))
	case errors.Is(err, errInflatedTooBig):
		return nil, c.fail(StatusMessageTooBig, fmt.Sprintf("message over %d bytes", limit))
	case err != nil:
		return nil, c.fail(statusInvalidFramePayloadData, "compressed message is not valid DEFLATE data")
	case typ == MessageText && !utf8.Valid(msg):
		return nil, c.fail(statusInvalidFramePayloadData, "text message is not UTF-8")
	}
	return msg, nil
}

// inflateCredit returns the credit the connection's compressed messages
// draw on: the server's, shared by address, for an accepted connection,
// and one of its own for a client's.
func (c *Conn) inflateCredit() *inflateCredit {
	if !c.client {
		return serverCredit.Load()
	}
	if c.clientCredit == nil {
		c.clientCredit = newInflateCredit(inflateCreditPerAddr, inflateCreditPerAddr, inflateCreditPeriod)
	}
	return c.clientCredit
}

// growForPayload returns msg with room for more of a payload of which
// remaining bytes are still to come. It waits for the first of them before
// it allocates, so that a peer that announces a frame and sends nothing
// costs no memory.
func (c *Conn) growForPayload(msg []byte, remaining int64) []byte {
	c.br.Peek(1) // an error comes back from the read that follows
	step := int64(max(cap(msg), readGrowStep))
	return slices.Grow(msg, int(min(step, remaining)))
}

// nextFrame reads the next frame header from the connection and sets f up
// to read its payload. It reads the header a byte at a time from the
// buffered reader and allocates nothing, so that a peer sending tiny
// frames costs the server time in proportion to its bytes, not garbage.
func (c *Conn) nextFrame(f *payload) (header, error) {
	b := c.hdr[:2]
	if _, err := io.ReadFull(c.br, b); err != nil {
		return header{}, err // io.EOF between frames: the peer closed
	}
	h := parseHeader(b)
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h.masked {
		n += 4
	}
	if _, err := io.ReadFull(c.br, c.hdr[2:n]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return header{}, err
	}
	if reason := lengthViolation(c.hdr[:n]); reason != "" {
		return header{}, protocolViolation(reason)
	}
	h = parseHeader(c.hdr[:n])
	*f = payload{br: c.br, left: h.length}
	if h.masked {
		copy(f.key[:], c.hdr[n-4:n])
	}
	c.lastSeen.Store(time.Now().UnixNano())
	return h, nil
}

// A protocolViolation is the error of nextFrame for a frame header that
// breaks RFC 6455: the connection fails with statusProtocolError and this
// reason.
type protocolViolation string

func (v protocolViolation) Error() string { return "ws: " + string(v) }

// handleClose answers the peer's close frame with payload p.
func (c *Conn) handleClose(p []byte) error {
	ce := &CloseError{Code: statusNoStatusRcvd}
	switch {
	case len(p) == 1:
		return c.fail(statusProtocolError, "close frame payload of one byte")
	case len(p) >= 2:
		ce.Code = StatusCode(binary.BigEndian.Uint16(p))
		if !validWireCode(ce.Code) {
			return c.fail(statusProtocolError, fmt.Sprintf("invalid close code %d", ce.Code))
		}
		if !utf8.Valid(p[2:]) {
			return c.fail(statusProtocolError, "close reason is not UTF-8")
		}
		ce.Reason = string(p[2:])
	}
	reply := &CloseError{Code: ce.Code, local: true}
	if ce.Code == statusNoStatusRcvd {
		reply.Code = StatusNormalClosure
	}
	c.queueCloseCause(reply, ce, false) // false if this answers our own close
	c.finish()
	return c.cause()
}

// fail sends a close frame with code and reason for a peer that broke the
// protocol, after the messages already queued, and closes the connection.
func (c *Conn) fail(code StatusCode, reason string) error {
	c.queueClose(&CloseError{Code: code, Reason: reason, local: true}, false)
	c.finish()
	return c.cause()
}

// awaitClose reads and discards what the peer sends until its close frame,
// then closes the connection once the close frame was written. It stops
// early when the peer sends more than lingerDiscard bytes of payload in
// all, and the close timer bounds it in time.
func (c *Conn) awaitClose() error {
	var f payload
	for left := int64(lingerDiscard); ; {
		h, err := c.nextFrame(&f)
		if err != nil || h.length > left {
			break
		}
		if _, err := c.br.Discard(int(h.length)); err != nil || h.op == opClose {
			break
		}
		left -= h.length
	}
	c.finish()
	return c.cause()
}

// finish ends the closing handshake. Once the close frame is written it
// half-closes the connection, so the peer reads the close frame and then
// the end of the stream, discards what the peer still sends (at most
// lingerDiscard bytes) until the peer closes its side, and closes the
// connection. Reading everything the peer sent before closing keeps the
// kernel from answering with a reset that could destroy the close frame in
// flight. The close timer bounds the wait.
func (c *Conn) finish() {
	<-c.closeWaitChan()
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if !ended {
		// The close frame is out.
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			io.CopyN(io.Discard, c.br, lingerDiscard)
		}
	}
	c.shutdown(nil)
}

// readFailed ends the connection after a read error.
func (c *Conn) readFailed(err error) error {
	if cause := c.cause(); cause != nil {
		c.shutdown(nil)
		return cause
	}
	e := fmt.Errorf("%w: %w", &CloseError{Code: statusAbnormalClosure, Reason: "connection lost"}, err)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		e = fmt.Errorf("%w: peer closed without a close frame: %w", &CloseError{Code: statusAbnormalClosure}, err)
	}
	c.shutdown(e)
	return c.cause()
}

// closingNow reports whether a close frame was queued.
func (c *Conn) closingNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeFrame != nil
}
