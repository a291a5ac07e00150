package servers

import (
	"bytes"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realtime-go/realtime/internal/bench/wire"
)

// The floors: the strongest simple design of a broadcast server, against
// which ours is measured. Every message of a batch (a burst published back
// to back, or one message when they are paced) is encoded once into one
// shared buffer per topic; GOMAXPROCS long-lived writer goroutines each
// own a share of every topic's connections; at the end of the batch each
// writer writes the shared buffer to each of its connections in one write.
// No per-connection queue, no copy, no goroutine started per batch.
//
//   - hijack-sse, hijack-ws: the request read by hand, a fixed response
//     head, then the bare connection (no goroutine of its own).
//   - handler-sse: every stream blocked inside its net/http handler (so
//     middleware, access logs and Server.Shutdown see it); the writers
//     write the shared buffer to each ResponseWriter and flush it, and the
//     handler is the only one to return.
//
// A write is bounded by floorWriteTimeout; a connection whose write fails
// is closed and dropped. The wire bytes are ours (see appendEvent).
func init() {
	register(Lib{Name: "hijack-sse", Kind: "sse", Path: "/events?topic=bench", Topics: true, Title: "hijacked floor (SSE)",
		New: func(o Options) (Server, error) { return newFloor(floorHijack, false, o), nil }})
	register(Lib{Name: "handler-sse", Kind: "sse", Path: "/events?topic=bench", Topics: true, Title: "handler floor (SSE)",
		New: func(o Options) (Server, error) { return newFloor(floorHandler, false, o), nil }})
	register(Lib{Name: "hijack-ws", Kind: "ws", Path: "/ws?topic=bench", Topics: true, Title: "hijacked floor (WebSocket)",
		New: func(o Options) (Server, error) { return newFloor(floorHijack, true, o), nil }})
}

// Batcher is a Server that writes what was published to a topic when told
// that a batch ended: the publisher calls EndBatch after a burst published
// back to back, or after each message when they are paced.
type Batcher interface {
	EndBatch(topic string)
}

// Bounds of the floors.
const (
	// floorWriteTimeout bounds one write to one connection.
	floorWriteTimeout = 10 * time.Second
	// floorHandshakeTimeout bounds reading a request head and answering.
	floorHandshakeTimeout = 10 * time.Second
	// floorPending is how many batches a writer may have to write before
	// EndBatch waits for it.
	floorPending = 64
)

type floorMode int

const (
	floorHijack floorMode = iota
	floorHandler
)

type floorServer struct {
	mode      floorMode
	ws        bool
	heartbeat time.Duration
	done      chan struct{}
	ln        net.Listener
	conns     atomic.Int64
	next      atomic.Uint64 // round robin over the writers
	writers   []chan floorJob

	mu     sync.Mutex
	topics map[string]*floorTopic // nil once closed
}

// floorJob asks a writer to write buf to its share of t's connections.
type floorJob struct {
	t   *floorTopic
	buf []byte
}

type floorTopic struct {
	name string

	mu   sync.Mutex // guards seq and pend, and orders the jobs of the batches
	seq  uint64
	pend []byte // the batch being published

	shards []floorShard // one per writer
}

// floorShard is one writer's share of a topic's connections.
type floorShard struct {
	mu    sync.Mutex
	conns []*floorConn
}

// floorConn is one subscriber: a bare connection, or a ResponseWriter
// whose handler waits for done.
type floorConn struct {
	nc net.Conn

	mu   sync.Mutex // held by a write, and by the handler before it returns
	w    http.ResponseWriter
	rc   *http.ResponseController
	gone bool
	done chan struct{} // closed when a write failed
}

func newFloor(mode floorMode, ws bool, o Options) *floorServer {
	hb := o.Heartbeat
	if hb <= 0 {
		hb = rawDefaultHeartbeat
	}
	s := &floorServer{mode: mode, ws: ws, heartbeat: hb, done: make(chan struct{}), topics: make(map[string]*floorTopic)}
	s.writers = make([]chan floorJob, runtime.GOMAXPROCS(0))
	for i := range s.writers {
		s.writers[i] = make(chan floorJob, floorPending)
		go s.write(i, s.writers[i])
	}
	return s
}

func (s *floorServer) Serve(ln net.Listener) error {
	s.ln = ln
	go s.beat()
	if s.mode == floorHandler {
		return httpServe(ln, http.HandlerFunc(s.serveHTTP))
	}
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

// handle reads the request head, answers it and gives the connection to a
// writer; then its goroutine ends.
func (s *floorServer) handle(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(floorHandshakeTimeout))
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
	if !s.add(topic, &floorConn{nc: nc}) {
		nc.Close()
	}
}

// serveHTTP is the handler floor's handler: it sends the response head,
// gives the stream to a writer and waits until the client goes or a write
// fails.
func (s *floorServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	topic := r.URL.Query().Get("topic")
	if r.URL.Path != "/events" || topic == "" {
		http.Error(w, "no topic", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	c := &floorConn{w: w, rc: rc, done: make(chan struct{})}
	if !s.add(topic, c) {
		return
	}
	select {
	case <-r.Context().Done():
	case <-c.done:
	case <-s.done:
	}
	c.mu.Lock()
	if !c.gone { // no write after the handler returns
		c.gone = true
		s.conns.Add(-1)
	}
	c.mu.Unlock()
}

// add gives c to the next writer's share of topic.
func (s *floorServer) add(topic string, c *floorConn) bool {
	t := s.topic(topic)
	if t == nil {
		return false
	}
	sh := &t.shards[s.next.Add(1)%uint64(len(t.shards))]
	sh.mu.Lock()
	sh.conns = append(sh.conns, c)
	sh.mu.Unlock()
	s.conns.Add(1)
	return true
}

// topic returns the topic called name, made on first use; nil once the
// server is closed.
func (s *floorServer) topic(name string) *floorTopic {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics == nil {
		return nil
	}
	t := s.topics[name]
	if t == nil {
		t = &floorTopic{name: name, shards: make([]floorShard, len(s.writers))}
		s.topics[name] = t
	}
	return t
}

// write is writer i: it writes each batch it is given to its share of the
// batch's topic, one write per connection, until the server closes. When
// it fell behind, the batches of one topic waiting for it are joined
// (copied once into the writer's own buffer) and written as one, as a
// writer that catches up does.
func (s *floorServer) write(i int, jobs chan floorJob) {
	var joined []byte
	var next *floorJob
	for {
		var j floorJob
		if next != nil {
			j, next = *next, nil
		} else {
			select {
			case j = <-jobs:
			case <-s.done:
				return
			}
		}
		buf := j.buf
	join:
		for {
			select {
			case k := <-jobs:
				if k.t != j.t {
					next = &k
					break join
				}
				if len(joined) == 0 || &buf[0] != &joined[0] {
					joined = append(joined[:0], buf...)
				}
				joined = append(joined, k.buf...)
				buf = joined
			default:
				break join
			}
		}
		sh := &j.t.shards[i]
		sh.mu.Lock()
		for k := 0; k < len(sh.conns); {
			if s.send(sh.conns[k], buf) {
				k++
				continue
			}
			last := len(sh.conns) - 1
			sh.conns[k], sh.conns[last] = sh.conns[last], nil
			sh.conns = sh.conns[:last]
		}
		sh.mu.Unlock()
		if cap(joined) > floorMaxJoined {
			joined = nil
		}
	}
}

// floorMaxJoined is the largest buffer a writer keeps for joining batches.
const floorMaxJoined = 1 << 20

// send writes buf to c and reports whether c is still there. Whoever
// finds c gone first counts it out.
func (s *floorServer) send(c *floorConn, buf []byte) bool {
	if c.nc != nil {
		c.nc.SetWriteDeadline(time.Now().Add(floorWriteTimeout))
		if _, err := c.nc.Write(buf); err != nil {
			c.nc.Close()
			s.conns.Add(-1)
			return false
		}
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return false
	}
	c.rc.SetWriteDeadline(time.Now().Add(floorWriteTimeout))
	_, err := c.w.Write(buf)
	if err == nil {
		err = c.rc.Flush()
	}
	if err == nil {
		err = c.rc.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		c.gone = true
		s.conns.Add(-1)
		close(c.done)
		return false
	}
	return true
}

func (s *floorServer) beat() {
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
			var ts []*floorTopic
			for _, t := range s.topics {
				ts = append(ts, t)
			}
			s.mu.Unlock()
			for _, t := range ts {
				t.mu.Lock()
				t.pend = append(t.pend, hb...)
				t.mu.Unlock()
				s.EndBatch(t.name)
			}
		case <-s.done:
			return
		}
	}
}

func (s *floorServer) Publish(msg []byte) error { return s.PublishTopic("bench", msg) }

// PublishTopic encodes msg, as message seq of topic, into the topic's
// batch; EndBatch writes it.
func (s *floorServer) PublishTopic(topic string, msg []byte) error {
	t := s.topic(topic)
	if t == nil {
		return net.ErrClosed
	}
	t.mu.Lock()
	t.seq++
	t.pend = appendEvent(t.pend, s.ws, topic, t.seq, msg)
	t.mu.Unlock()
	return nil
}

// EndBatch hands topic's batch to every writer, which write it to their
// connections while the next batch is published. The buffer is shared and
// never written again.
func (s *floorServer) EndBatch(topic string) {
	t := s.topic(topic)
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pend) == 0 {
		return
	}
	buf := t.pend
	t.pend = make([]byte, 0, len(buf))
	for _, w := range s.writers {
		select {
		case w <- floorJob{t: t, buf: buf}:
		case <-s.done:
			return
		}
	}
}

func (s *floorServer) Subscribers() int { return int(s.conns.Load()) }

func (s *floorServer) Close() error {
	s.mu.Lock()
	ts := s.topics
	s.topics = nil
	s.mu.Unlock()
	if ts == nil {
		return nil
	}
	close(s.done)
	if s.mode == floorHijack {
		for _, t := range ts {
			for i := range t.shards {
				sh := &t.shards[i]
				sh.mu.Lock()
				for _, c := range sh.conns {
					c.nc.Close()
				}
				sh.mu.Unlock()
			}
		}
	}
	if s.ln != nil {
		return s.ln.Close()
	}
	return nil
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
