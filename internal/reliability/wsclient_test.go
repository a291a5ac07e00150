package reliability

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realtime-go/realtime/internal/wstest"
)

// A wsConn is the client side of a WebSocket connection, written for these
// tests on a raw TCP connection so that they control every byte: when to
// read, whether to answer pings, what to send.
type wsConn struct {
	nc     net.Conn
	fr     *wstest.Conn // reads frames from the connection's buffered reader
	noPong bool         // do not answer pings (a peer that froze)

	closeSent atomic.Bool  // a close frame was sent: do not answer one
	pings     atomic.Int64 // pings received

	wmu sync.Mutex
}

// closeCode returns the code of the close frame in err, or -1.
func closeCode(err error) int {
	var cf *wstest.CloseFrame
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
	return &wsConn{nc: nc, fr: &wstest.Conn{Conn: nc, R: br}}, resp, nil
}

// readFrame reads one frame. The server must not mask its frames nor set
// RSV bits.
func (c *wsConn) readFrame() (wstest.Frame, error) {
	f, err := c.fr.ReadFrame()
	if err == nil && (f.Rsv != 0 || f.Masked) {
		err = fmt.Errorf("server frame with RSV bits %#x or mask %v", f.Rsv, f.Masked)
	}
	return f, err
}

// ReadMessage returns the next data message. It answers pings (unless
// noPong) and returns a *closeFrame when the server closes, after echoing
// its code.
func (c *wsConn) ReadMessage() (op byte, p []byte, err error) {
	var msg []byte
	var msgOp byte
	for {
		f, err := c.readFrame()
		if err != nil {
			return 0, nil, err
		}
		switch f.Op {
		case wstest.OpClose:
			var echo []byte
			if len(f.Payload) >= 2 {
				echo = f.Payload[:2]
			}
			if !c.closeSent.Swap(true) {
				c.WriteFrame(wstest.OpClose, echo)
			}
			return 0, nil, wstest.ParseClose(f.Payload)
		case wstest.OpPing:
			c.pings.Add(1)
			if !c.noPong {
				c.WriteFrame(wstest.OpPong, f.Payload)
			}
			continue
		case wstest.OpPong:
			continue
		case wstest.OpContinuation:
			msg = append(msg, f.Payload...)
		default:
			msgOp, msg = f.Op, f.Payload
		}
		if f.Fin {
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
	return wstest.Encode(wstest.Frame{Fin: b0&0x80 != 0, Rsv: b0 & 0x70, Op: b0 & 0x0f, Masked: true, Payload: p})
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
		f, err := c.readFrame()
		if err != nil {
			return fmt.Errorf("waiting for the close frame: %w", err)
		}
		if f.Op == wstest.OpClose && f.Fin {
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

// readWS reads c into tl until c ends, and returns the error that ended it.
func readWS(c *wsConn, tl *tally) error {
	for {
		e, err := c.ReadEnvelope()
		if err != nil {
			return err
		}
		tl.add(e.ID, e.Data)
	}
}
