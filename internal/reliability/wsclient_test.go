package reliability

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// A wsConn is the client side of a WebSocket connection, written for these
// tests on a raw TCP connection so that they control every byte: when to
// read, whether to answer pings, what to send.
type wsConn struct {
	nc     net.Conn
	br     *bufio.Reader
	noPong bool // do not answer pings (a peer that froze)

	closeSent atomic.Bool  // a close frame was sent: do not answer one
	pings     atomic.Int64 // pings received

	wmu sync.Mutex
}

// A closeFrame is the close frame that ended a connection, as an error.
type closeFrame struct {
	Code   int
	Reason string
}

func (c *closeFrame) Error() string { return fmt.Sprintf("close %d %q", c.Code, c.Reason) }

// closeCode returns the code of the close frame in err, or -1.
func closeCode(err error) int {
	var cf *closeFrame
	if errors.As(err, &cf) {
		return cf.Code
	}
	return -1
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialWS opens a WebSocket connection to target (a path with its query) at
// addr. When the server answers anything but 101 the response is returned
// with a nil connection and a nil error.
func dialWS(d *net.Dialer, addr, target string, h http.Header) (*wsConn, *http.Response, error) {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	head := "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	nc, br, resp, err := openRequest(d, addr, target, head, h, http.StatusSwitchingProtocols)
	if nc == nil {
		return nil, resp, err
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		nc.Close()
		return nil, nil, fmt.Errorf("handshake: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return &wsConn{nc: nc, br: br}, resp, nil
}

// readFrame reads one frame. The server must not mask its frames.
func (c *wsConn) readFrame() (fin bool, op byte, p []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return false, 0, nil, err
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		return false, 0, nil, fmt.Errorf("server frame with RSV bits or mask: % x", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return false, 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return false, 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 64<<20 {
		return false, 0, nil, fmt.Errorf("server frame of %d bytes", n)
	}
	p = make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return false, 0, nil, err
	}
	return fin, op, p, nil
}

// ReadMessage returns the next data message. It answers pings (unless
// noPong) and returns a *closeFrame when the server closes, after echoing
// its code.
func (c *wsConn) ReadMessage() (op byte, p []byte, err error) {
	var msg []byte
	var msgOp byte
	for {
		fin, fop, fp, err := c.readFrame()
		if err != nil {
			return 0, nil, err
		}
		switch fop {
		case 0x8:
			cf := &closeFrame{Code: 1005}
			echo := []byte(nil)
			if len(fp) >= 2 {
				cf.Code, cf.Reason = int(binary.BigEndian.Uint16(fp)), string(fp[2:])
				echo = fp[:2]
			}
			if !c.closeSent.Swap(true) {
				c.WriteFrame(0x8, echo)
			}
			return 0, nil, cf
		case 0x9:
			c.pings.Add(1)
			if !c.noPong {
				c.WriteFrame(0xA, fp)
			}
			continue
		case 0xA:
			continue
		case 0x0:
			msg = append(msg, fp...)
		default:
			msgOp, msg = fop, fp
		}
		if fin {
			return msgOp, msg, nil
		}
	}
}

// WriteFrame writes one masked frame with FIN set.
func (c *wsConn) WriteFrame(op byte, p []byte) error {
	return c.WriteRaw(maskedFrame(0x80|op, p))
}

// WriteRaw writes b as it is.
func (c *wsConn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(waitTimeout))
	_, err := c.nc.Write(b)
	return err
}

// maskedFrame returns a frame whose first byte is b0, masked as a client's.
func maskedFrame(b0 byte, p []byte) []byte {
	f := []byte{b0}
	switch n := len(p); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	var key [4]byte
	rand.Read(key[:])
	f = append(f, key[:]...)
	for i, b := range p {
		f = append(f, b^key[i%4])
	}
	return f
}

// Close closes the TCP connection without a closing handshake.
func (c *wsConn) Close() error { return c.nc.Close() }

// SendClose starts the closing handshake with code 1000: the reader of
// the connection gets the server's close frame within waitTimeout.
func (c *wsConn) SendClose() error {
	c.nc.SetReadDeadline(time.Now().Add(waitTimeout))
	if c.closeSent.Swap(true) {
		return nil
	}
	return c.WriteFrame(0x8, binary.BigEndian.AppendUint16(nil, 1000))
}

// CloseClean sends a close frame with code 1000, waits for the server's
// close frame and closes the TCP connection. No one else may be reading.
func (c *wsConn) CloseClean() error {
	defer c.nc.Close()
	if err := c.SendClose(); err != nil {
		return err
	}
	for {
		fin, op, _, err := c.readFrame()
		if err != nil {
			return fmt.Errorf("waiting for the close frame: %w", err)
		}
		if op == 0x8 && fin {
			return nil
		}
	}
}

// An envelope is a message of a ws.Hub, or its gap notice.
type envelope struct {
	ID          string `json:"id"`
	Topic       string `json:"topic"`
	Data        string `json:"data"`
	Type        string `json:"type"`
	LastEventID string `json:"lastEventId"`
	Reason      string `json:"reason"`
}

// ReadEnvelope reads the next message and decodes its envelope.
func (c *wsConn) ReadEnvelope() (envelope, error) {
	op, p, err := c.ReadMessage()
	if err != nil {
		return envelope{}, err
	}
	var e envelope
	if op != 0x1 {
		return e, fmt.Errorf("message with opcode %d, want text", op)
	}
	if err := json.Unmarshal(p, &e); err != nil {
		return e, fmt.Errorf("envelope %q: %w", p, err)
	}
	return e, nil
}
