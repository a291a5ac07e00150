package load

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/realtime-go/realtime/internal/bench/wire"
)

// Kinds of stream a load client reads.
const (
	KindSSE = "sse"
	KindWS  = "ws"
)

// HandshakeTimeout bounds the dial and the HTTP or WebSocket handshake of
// one connection.
const HandshakeTimeout = 20 * time.Second

// readBufferSize is each connection's read buffer: one goroutine and one
// buffer per connection, the least a reader needs.
const readBufferSize = 4096

// dataMember precedes the payload in a JSON envelope.
var dataMember = []byte(`"data":"`)

// errServerMasked means a server sent a masked WebSocket frame.
var errServerMasked = errors.New("load: server sent a masked frame")

// conn is one subscriber connection. Its reader goroutine owns it; the
// agent reads its atomics for reports.
type conn struct {
	a  *Agent
	nc net.Conn

	cur      atomic.Pointer[round] // the round got, bad and beats count for
	got      atomic.Uint64         // messages of cur received in order
	bad      atomic.Uint64         // messages of cur out of order, duplicated or after a gap
	beats    atomic.Uint64         // heartbeats (SSE comments, WS pings) since the connection opened
	lastRecv atomic.Int64          // unix ns of the last message of cur
	ended    atomic.Bool
}

// dial connects and performs the handshake, leaving the reader positioned
// at the first event or frame.
func (c *conn) dial(addr, path, kind string) (*bufio.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	nc.SetDeadline(time.Now().Add(HandshakeTimeout))
	var req bytes.Buffer
	var key string
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, addr)
	if kind == KindWS {
		var k [16]byte
		rand.Read(k[:])
		key = base64.StdEncoding.EncodeToString(k[:])
		fmt.Fprintf(&req, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nOrigin: http://%s\r\n\r\n", key, addr)
	} else {
		req.WriteString("Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
	}
	if _, err := nc.Write(req.Bytes()); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, readBufferSize)
	if kind == KindSSE {
		// Some servers send the response head with the first event only,
		// so readSSE reads it.
		nc.SetDeadline(time.Time{})
		return br, nil
	}
	resp, err := readHead(br, addr, path)
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
		err = fmt.Errorf("handshake: status %s", resp.Status)
	}
	if err == nil && resp.Header.Get("Sec-WebSocket-Accept") != wire.AcceptKey(key) {
		err = errors.New("handshake: bad Sec-WebSocket-Accept")
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return br, nil
}

// readHead reads the response head to the GET of path.
func readHead(br *bufio.Reader, addr, path string) (*http.Response, error) {
	hreq, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(br, hreq)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return resp, nil
}

// onMessage counts one payload.
func (c *conn) onMessage(p []byte) {
	now := time.Now().UnixNano()
	seq, sent, err := wire.ParsePayload(p)
	if err != nil {
		return
	}
	r := c.a.round.Load()
	if r == nil {
		return
	}
	if c.cur.Load() != r {
		c.got.Store(0)
		c.bad.Store(0)
		c.cur.Store(r)
	}
	if seq < r.from || seq >= r.from+r.count {
		return
	}
	got := c.got.Load()
	if seq != r.from+got {
		c.bad.Add(1)
		return
	}
	c.got.Store(got + 1)
	c.lastRecv.Store(now)
	if r.latency {
		r.hist.Record(time.Duration(now - sent))
	}
	if got+1 == r.count {
		if r.remaining.Add(-1) == 0 {
			close(r.done)
		}
	}
}

// onBeat counts one heartbeat.
func (c *conn) onBeat() {
	c.beats.Add(1)
}

// readSSE counts data lines and comment lines until the stream ends. Each
// benchmark event has exactly one data line.
func (c *conn) readSSE(br *bufio.Reader, addr, path string) error {
	resp, err := readHead(br, addr, path)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("handshake: status %s", resp.Status)
	}
	// The body undoes chunked encoding when the server used it.
	br = bufio.NewReaderSize(resp.Body, readBufferSize)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			return err
		}
		switch {
		case len(line) > 5 && line[0] == 'd' && bytes.HasPrefix(line, []byte("data:")):
			p := line[5:]
			if p[0] == ' ' {
				p = p[1:]
			}
			c.onMessage(p)
		case line[0] == ':':
			c.onBeat()
		}
	}
}

// readWS reads server frames: data frames are counted, pings answered with
// a pong and counted, a close frame ends the connection.
func (c *conn) readWS(br *bufio.Reader) error {
	var hdr [8]byte
	for {
		b0, err := br.ReadByte()
		if err != nil {
			return err
		}
		b1, err := br.ReadByte()
		if err != nil {
			return err
		}
		if b1&0x80 != 0 {
			return errServerMasked
		}
		n := int(b1 & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[:2]); err != nil {
				return err
			}
			n = int(hdr[0])<<8 | int(hdr[1])
		case 127:
			if _, err := io.ReadFull(br, hdr[:8]); err != nil {
				return err
			}
			n = 0
			for _, b := range hdr {
				n = n<<8 | int(b)
			}
		}
		var p []byte
		if n <= br.Size() {
			p, err = br.Peek(n)
		} else {
			p = make([]byte, n)
			_, err = io.ReadFull(br, p)
		}
		if err != nil {
			return err
		}
		switch op := b0 & 0x0f; op {
		case wire.OpPing:
			c.onBeat()
			// A pong with a zero masking key: the payload goes as it is.
			pong := append([]byte{0x80 | wire.OpPong, 0x80 | byte(len(p)), 0, 0, 0, 0}, p...)
			if _, err := c.nc.Write(pong); err != nil {
				return err
			}
		case wire.OpClose:
			if len(p) >= 2 {
				return fmt.Errorf("server closed the connection: code %d %q", int(p[0])<<8|int(p[1]), p[2:])
			}
			return errors.New("server closed the connection")
		case wire.OpPong:
		default:
			if len(p) > 0 && p[0] == '{' {
				// A JSON envelope, as our ws.Hub sends: the payload is
				// the data string.
				if i := bytes.Index(p, dataMember); i >= 0 {
					p = p[i+len(dataMember):]
				}
			}
			c.onMessage(p)
		}
		if n <= br.Size() {
			br.Discard(n)
		}
	}
}
