package servers

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realtime-go/realtime/internal/bench/wire"
)

// The raw-TCP floor: no HTTP framework, the request or handshake read by
// hand, then the same bytes written to every connection, what is waiting
// per connection coalesced into one write.
func init() {
	register(Lib{Name: "raw-sse", Kind: "sse", Path: "/events", Title: "raw TCP floor (SSE)",
		New: func(o Options) (Server, error) { return newRaw(false, o), nil }})
	register(Lib{Name: "raw-ws", Kind: "ws", Path: "/ws", Title: "raw TCP floor (WebSocket)",
		New: func(o Options) (Server, error) { return newRaw(true, o), nil }})
}

// rawDefaultHeartbeat is the raw floor's keep-alive interval when
// Options.Heartbeat is zero.
const rawDefaultHeartbeat = 15 * time.Second

type rawServer struct {
	ws        bool
	heartbeat time.Duration
	done      chan struct{}
	ln        net.Listener

	mu    sync.Mutex
	conns map[*rawConn]struct{}
	list  atomic.Pointer[[]*rawConn] // conns as a slice, replaced on every change, so broadcast takes no server-wide lock
	seq   uint64
}

type rawConn struct {
	nc   net.Conn
	mu   sync.Mutex
	pend []byte
	wake chan struct{}
	stop chan struct{} // closed by Close; per connection, as a channel all writers wait on would be contended
}

func newRaw(ws bool, o Options) *rawServer {
	hb := o.Heartbeat
	if hb <= 0 {
		hb = rawDefaultHeartbeat
	}
	return &rawServer{ws: ws, heartbeat: hb, done: make(chan struct{}), conns: make(map[*rawConn]struct{})}
}

func (s *rawServer) Serve(ln net.Listener) error {
	s.ln = ln
	go s.beat()
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			// Out of file descriptors and the like: wait a little, as
			// net/http does.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		go s.handle(nc)
	}
}

// handle reads the request head by hand and answers it, then hands the
// connection to a fresh writer goroutine, so the deeper stack the
// handshake needed is not kept for the life of the connection.
func (s *rawServer) handle(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	head, err := readHead(nc)
	if err != nil {
		nc.Close()
		return
	}
	var resp string
	if s.ws {
		key := headerValue(head, "sec-websocket-key")
		if key == "" {
			nc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			nc.Close()
			return
		}
		resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			wire.AcceptKey(key) + "\r\n\r\n"
	} else {
		resp = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\r\n"
	}
	if _, err := nc.Write([]byte(resp)); err != nil {
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	c := &rawConn{nc: nc, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	s.mu.Lock()
	if s.conns == nil {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.relist()
	s.mu.Unlock()
	go s.write(c)
}

// maxHead bounds the request head the raw floor reads.
const maxHead = 4096

// readHead reads up to the blank line that ends a request head. A client
// sends nothing before the answer, so nothing past the head is lost.
func readHead(nc net.Conn) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxHead {
				return nil, errors.New("raw: request head too long")
			}
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			return buf[:i+2], nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// headerValue returns the value of header name (lower case) in head.
func headerValue(head []byte, name string) string {
	for line := range bytes.Lines(head) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(k)), name) {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

// write sends what is waiting for c, all of it in one write, until the
// server closes or a write fails.
func (s *rawServer) write(c *rawConn) {
	var buf []byte
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			c.nc.Close()
			return
		}
		c.mu.Lock()
		buf, c.pend = c.pend, buf[:0]
		c.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.nc.Write(buf); err != nil {
			s.mu.Lock()
			delete(s.conns, c)
			s.relist()
			s.mu.Unlock()
			c.nc.Close()
			return
		}
	}
}

// broadcast appends b to every connection's pending bytes and wakes its
// writer if it was idle.
func (s *rawServer) broadcast(b []byte) {
	list := s.list.Load()
	if list == nil {
		return
	}
	for _, c := range *list {
		c.mu.Lock()
		idle := len(c.pend) == 0
		c.pend = append(c.pend, b...)
		c.mu.Unlock()
		if idle {
			select {
			case c.wake <- struct{}{}:
			default:
			}
		}
	}
}

// relist rebuilds the slice broadcast reads. s.mu is held.
func (s *rawServer) relist() {
	list := make([]*rawConn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	s.list.Store(&list)
}

func (s *rawServer) beat() {
	t := time.NewTicker(s.heartbeat)
	defer t.Stop()
	var hb []byte
	if s.ws {
		hb = wire.AppendFrame(nil, wire.OpPing, nil)
	} else {
		hb = []byte(":\n\n")
	}
	for {
		select {
		case <-t.C:
			s.broadcast(hb)
		case <-s.done:
			return
		}
	}
}

// Publish encodes msg once, with the same bytes our packages write (see
// appendEvent), and appends it to every connection's pending bytes.
func (s *rawServer) Publish(msg []byte) error {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	s.broadcast(appendEvent(make([]byte, 0, len(msg)+eventOverhead), s.ws, "bench", seq, msg))
	return nil
}

// eventOverhead is room enough for what appendEvent adds around a message
// on a short topic.
const eventOverhead = 80

// appendEvent appends message seq of topic, holding msg, to dst, with the
// same bytes our packages write: for SSE an event with an "epoch-seq" id
// and one data line, for WebSocket a text frame holding our hub's JSON
// envelope. msg must need no JSON escaping (benchmark payloads do not).
func appendEvent(dst []byte, ws bool, topic string, seq uint64, msg []byte) []byte {
	if !ws {
		dst = append(dst, "id: "...)
		dst = append(dst, rawEpoch...)
		dst = append(dst, '-')
		dst = appendUint(dst, seq)
		dst = append(dst, "\ndata: "...)
		dst = append(dst, msg...)
		return append(dst, "\n\n"...)
	}
	b := make([]byte, 0, len(msg)+eventOverhead)
	b = append(b, `{"type":"message","id":"`...)
	b = append(b, rawEpoch...)
	b = append(b, '-')
	b = appendUint(b, seq)
	b = append(b, `","topic":"`...)
	b = append(b, topic...)
	b = append(b, `","data":"`...)
	b = append(b, msg...)
	b = append(b, `"}`...)
	return wire.AppendFrame(dst, wire.OpText, b)
}

// rawEpoch stands for the epoch our hubs put before every ID, of the same
// length.
const rawEpoch = "Rw4tFl00"

func appendUint(b []byte, v uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

func (s *rawServer) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *rawServer) Close() error {
	close(s.done)
	s.mu.Lock()
	for c := range s.conns {
		close(c.stop)
	}
	s.conns = nil
	s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Close()
	}
	return nil
}
