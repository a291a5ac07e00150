package servers

import (
	"bytes"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realtime-go/realtime/internal/bench/wire"
)

// The batch floor: what fan-out could cost with nothing per subscriber per
// message. Each message is encoded once into one shared log of frames per
// topic; a connection is only a position in that log. A publish appends
// to the log and wakes the topic's one dispatcher, which starts a writer
// goroutine for each connection that has none running; that writer sends
// everything from the connection's position to the end of the log in one
// vectored write of the shared frames (net.Buffers: no per-connection
// copy, no per-connection queue), and ends when it has caught up. So an
// idle connection holds no goroutine, and a burst costs each connection
// about one write. The wire bytes are the raw floor's, which are ours.
func init() {
	register(Lib{Name: "batch-sse", Kind: "sse", Path: "/events?topic=bench", Topics: true, Title: "batch floor (SSE)",
		New: func(o Options) (Server, error) { return newBatch(false, o), nil }})
	register(Lib{Name: "batch-ws", Kind: "ws", Path: "/ws?topic=bench", Topics: true, Title: "batch floor (WebSocket)",
		New: func(o Options) (Server, error) { return newBatch(true, o), nil }})
}

// Bounds of the batch floor.
const (
	// batchMaxBacklog is the most bytes a topic's log holds for its
	// slowest connection; a connection further behind is closed.
	batchMaxBacklog = 64 << 20
	// batchWriteTimeout bounds one write to one connection.
	batchWriteTimeout = 10 * time.Second
	// batchHandshakeTimeout bounds reading a request head and answering.
	batchHandshakeTimeout = 10 * time.Second
)

type batchServer struct {
	ws        bool
	heartbeat time.Duration
	done      chan struct{}
	ln        net.Listener
	conns     atomic.Int64 // connections registered and not ended

	mu     sync.Mutex
	topics map[string]*batchTopic // nil once closed
}

// batchTopic is one topic's shared log and connections.
type batchTopic struct {
	s    *batchServer
	name string
	kick chan struct{} // wakes the dispatcher; one pending wake is enough

	pubMu sync.Mutex // one publish at a time, so log order is sequence order
	seq   uint64

	mu    sync.Mutex
	log   [][]byte // log[i] is frame number base+i
	base  uint64
	bytes int // bytes held in log
	list  []*batchConn

	end  atomic.Uint64                // frames appended so far: base+len(log)
	view atomic.Pointer[[]*batchConn] // list as the dispatcher reads it, replaced on every change
}

// batchConn is one subscriber: a position in its topic's log and whether
// a writer is running for it.
type batchConn struct {
	nc   net.Conn
	pos  atomic.Uint64 // next frame to write
	busy atomic.Bool   // a writer goroutine owns nc's writes
	gone atomic.Bool
}

func newBatch(ws bool, o Options) *batchServer {
	hb := o.Heartbeat
	if hb <= 0 {
		hb = rawDefaultHeartbeat
	}
	return &batchServer{ws: ws, heartbeat: hb, done: make(chan struct{}), topics: make(map[string]*batchTopic)}
}

func (s *batchServer) Serve(ln net.Listener) error {
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
			time.Sleep(5 * time.Millisecond)
			continue
		}
		go s.handle(nc)
	}
}

// handle reads the request head, answers it and registers the connection
// at the end of its topic's log; then its goroutine ends.
func (s *batchServer) handle(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(batchHandshakeTimeout))
	head, err := readHead(nc)
	if err != nil {
		nc.Close()
		return
	}
	topic := requestTopic(head)
	var resp string
	if s.ws {
		key := headerValue(head, "sec-websocket-key")
		if key == "" || topic == "" {
			nc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			nc.Close()
			return
		}
		resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			wire.AcceptKey(key) + "\r\n\r\n"
	} else {
		if topic == "" {
			nc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			nc.Close()
			return
		}
		resp = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\r\n"
	}
	if _, err := nc.Write([]byte(resp)); err != nil {
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	t := s.topic(topic)
	if t == nil {
		nc.Close()
		return
	}
	c := &batchConn{nc: nc}
	t.mu.Lock()
	c.pos.Store(t.base + uint64(len(t.log)))
	t.list = append(t.list, c)
	t.relist()
	t.mu.Unlock()
	s.conns.Add(1)
}

// requestTopic returns the topic query parameter of the request line that
// starts head, or "" when there is none.
func requestTopic(head []byte) string {
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	f := bytes.Fields(line)
	if len(f) != 3 {
		return ""
	}
	u, err := url.ParseRequestURI(string(f[1]))
	if err != nil {
		return ""
	}
	return u.Query().Get("topic")
}

// topic returns the topic called name, made with its dispatcher on first
// use; nil once the server is closed.
func (s *batchServer) topic(name string) *batchTopic {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics == nil {
		return nil
	}
	t := s.topics[name]
	if t == nil {
		t = &batchTopic{s: s, name: name, kick: make(chan struct{}, 1)}
		s.topics[name] = t
		go t.dispatch()
	}
	return t
}

// relist publishes a copy of t.list for the dispatcher. t.mu is held.
func (t *batchTopic) relist() {
	v := append([]*batchConn(nil), t.list...)
	t.view.Store(&v)
}

// append adds one encoded frame to the log and wakes the dispatcher.
func (t *batchTopic) append(frame []byte) {
	t.mu.Lock()
	t.log = append(t.log, frame)
	t.bytes += len(frame)
	t.end.Store(t.base + uint64(len(t.log)))
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// dispatch starts a writer for every connection behind the log's end that
// has none, then trims what every connection has written, until the
// server closes.
func (t *batchTopic) dispatch() {
	for {
		select {
		case <-t.kick:
		case <-t.s.done:
			return
		}
		var view []*batchConn
		if v := t.view.Load(); v != nil {
			view = *v
		}
		end := t.end.Load()
		for _, c := range view {
			if c.pos.Load() < end && c.busy.CompareAndSwap(false, true) {
				go t.write(c)
			}
		}
		t.trim(view)
	}
}

// trim drops the frames every connection has written, first closing the
// connections that hold more than batchMaxBacklog bytes back.
func (t *batchTopic) trim(view []*batchConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	end := t.base + uint64(len(t.log))
	low := end
	for _, c := range view {
		if !c.gone.Load() {
			low = min(low, c.pos.Load())
		}
	}
	if t.bytes > batchMaxBacklog && low < end {
		for _, c := range view {
			if c.pos.Load() == low {
				c.nc.Close() // its writer's write fails and drops it
			}
		}
	}
	k := int(low - t.base)
	for i := range k {
		t.bytes -= len(t.log[i])
		t.log[i] = nil
	}
	t.log = t.log[k:]
	t.base = low
}

// scratch holds the slices of frame headers writers pass to net.Buffers,
// which consumes them.
var scratch = sync.Pool{New: func() any { return new([][]byte) }}

// write sends c everything from its position to the log's end in one
// vectored write, again while more arrived meanwhile, and returns once it
// has caught up.
func (t *batchTopic) write(c *batchConn) {
	sp := scratch.Get().(*[][]byte)
	defer scratch.Put(sp)
	for {
		pos, end := c.pos.Load(), t.end.Load()
		if pos >= end {
			c.busy.Store(false)
			// A frame appended after the load above may have found c busy.
			if t.end.Load() == pos || !c.busy.CompareAndSwap(false, true) {
				return
			}
			continue
		}
		t.mu.Lock()
		if pos < t.base {
			t.mu.Unlock()
			t.drop(c)
			return
		}
		bufs := append((*sp)[:0], t.log[pos-t.base:end-t.base]...)
		t.mu.Unlock()
		*sp = bufs
		c.nc.SetWriteDeadline(time.Now().Add(batchWriteTimeout))
		nb := net.Buffers(bufs)
		_, err := nb.WriteTo(c.nc)
		clear(bufs) // no header keeps a trimmed frame alive
		if err != nil {
			t.drop(c)
			return
		}
		c.pos.Store(end)
	}
}

// drop closes c and forgets it.
func (t *batchTopic) drop(c *batchConn) {
	c.nc.Close()
	if c.gone.Swap(true) {
		return
	}
	t.mu.Lock()
	for i, x := range t.list {
		if x == c {
			t.list[i] = t.list[len(t.list)-1]
			t.list[len(t.list)-1] = nil
			t.list = t.list[:len(t.list)-1]
			break
		}
	}
	t.relist()
	t.mu.Unlock()
	t.s.conns.Add(-1)
}

func (s *batchServer) beat() {
	tk := time.NewTicker(s.heartbeat)
	defer tk.Stop()
	var hb []byte
	if s.ws {
		hb = wire.AppendFrame(nil, wire.OpPing, nil)
	} else {
		hb = []byte(":\n\n")
	}
	for {
		select {
		case <-tk.C:
			s.mu.Lock()
			var ts []*batchTopic
			for _, t := range s.topics {
				ts = append(ts, t)
			}
			s.mu.Unlock()
			for _, t := range ts {
				t.append(hb)
			}
		case <-s.done:
			return
		}
	}
}

func (s *batchServer) Publish(msg []byte) error { return s.PublishTopic("bench", msg) }

// PublishTopic encodes msg once, as message seq of topic, and appends it
// to the topic's log.
func (s *batchServer) PublishTopic(topic string, msg []byte) error {
	t := s.topic(topic)
	if t == nil {
		return net.ErrClosed
	}
	t.pubMu.Lock()
	t.seq++
	frame := appendEvent(make([]byte, 0, len(msg)+eventOverhead), s.ws, topic, t.seq, msg)
	t.append(frame)
	t.pubMu.Unlock()
	return nil
}

func (s *batchServer) Subscribers() int { return int(s.conns.Load()) }

func (s *batchServer) Close() error {
	s.mu.Lock()
	ts := s.topics
	s.topics = nil
	s.mu.Unlock()
	if ts == nil {
		return nil
	}
	close(s.done)
	for _, t := range ts {
		t.mu.Lock()
		for _, c := range t.list {
			c.nc.Close()
		}
		t.mu.Unlock()
	}
	if s.ln != nil {
		return s.ln.Close()
	}
	return nil
}
