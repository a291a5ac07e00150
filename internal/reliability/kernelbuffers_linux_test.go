package reliability

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/netopt"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// kernelQueueBound is what the kernel may hold, written and not yet
// acknowledged, for one connection to a client that does not read:
// netopt.NotSentLowat, the segment the kernel was building when the mark
// was passed (64 KiB on loopback) and what the client's receive window let
// it send.
const kernelQueueBound = netopt.NotSentLowat + 128<<10

// TestAttackReplaysInKernel: clients from 16 addresses resume from the
// start of a full history, SSE (in its handler, and taken over) and
// WebSocket, and never read. Each writer hands the kernel a replay of up
// to 1 MiB at once; without a bound the kernel grows each send buffer to
// megabytes (net.ipv4.tcp_wmem), memory the server's own budget does not
// see and that takes the whole host's TCP memory past its pressure level.
// The bound: what the kernel holds for each of the server's connections
// (its send queue, from /proc/net/tcp) stays within kernelQueueBound.
func TestAttackReplaysInKernel(t *testing.T) {
	testutil.Long(t)
	for _, tc := range []struct {
		name   string
		broker sse.BrokerOptions
	}{
		{"handler", sse.BrokerOptions{}},
		{"TakeOver", sse.BrokerOptions{TakeOver: true}},
	} {
		t.Run(tc.name, func(t *testing.T) { attackReplaysInKernel(t, tc.broker) })
	}
}

func attackReplaysInKernel(t *testing.T, opts sse.BrokerOptions) {
	n := attackConns(t, 300)
	const topic = "full"
	var conns []net.Conn
	var sampler *queueSampler
	memBefore := tcpMemory()
	runAttack(t, attack{
		broker: opts,
		prepare: func(t *testing.T, r *attackRig) {
			data := strings.Repeat("h", 4000)
			for range 2 * hub.DefaultHistoryBytes / len(data) {
				if _, err := r.broker.Publish(topic, sse.Event{Data: data}); err != nil {
					t.Fatal(err)
				}
				if _, err := r.hub.Publish(topic, ws.MessageText, []byte(data)); err != nil {
					t.Fatal(err)
				}
			}
			conns = make([]net.Conn, n)
			if err := many(n, func(i int) error {
				c, err := dialer(fmt.Sprintf("127.0.0.%d", 100+i%16), true).Dial("tcp", r.addr)
				if err != nil {
					return err
				}
				r.hold(c.Close)
				conns[i] = c
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			// The sampler allocates what it needs now, before the
			// server's heap is first measured.
			sampler = sampleQueues(r.addr, conns)
			t.Cleanup(func() { sampler.end() })
		},
		start: func(t *testing.T, r *attackRig) uint64 {
			sse0, ws0 := r.broker.Stats(), r.hub.Stats()
			if err := many(n, func(i int) error {
				var req string
				if i%2 == 0 {
					req = fmt.Sprintf("GET /events?topic=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nLast-Event-ID: %s-0\r\n\r\n", topic, r.addr, r.broker.Epoch())
				} else {
					req = fmt.Sprintf("GET /ws?topic=%s&lastEventId=%s-0 HTTP/1.1\r\nHost: %s\r\n%s\r\n", topic, r.hub.Epoch(), r.addr, upgradeHeaders)
				}
				_, err := conns[i].Write([]byte(req))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			sseN, wsN := uint64((n+1)/2), uint64(n/2)
			waitfor.State(t, "every resume to be replaying", waitTimeout, func() (bool, string) {
				s, h := r.broker.Stats(), r.hub.Stats()
				return s.Opened-sse0.Opened >= sseN && h.Opened-ws0.Opened >= wsN &&
						s.Replayed-sse0.Replayed >= sseN && h.Replayed-ws0.Replayed >= wsN,
					fmt.Sprintf("broker %+v, hub %+v", s, h)
			})
			// Every replay is far larger than what the client's kernel
			// takes: each of the server's connections has a queue.
			waitfor.State(t, "every replay to reach the kernel", waitTimeout, func() (bool, string) {
				busy := sampler.busy()
				return busy >= n, fmt.Sprintf("%d of %d connections seen with a send queue", busy, n)
			})
			t.Logf("host TCP memory (all sockets, /proc/net/sockstat): %s before the attack, %s with every replay in the kernel",
				mib(memBefore), mib(tcpMemory()))
			return uint64(n) * streamOverhead
		},
	})
	peak, err := sampler.end()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d resumes that do not read: the kernel held at most %d bytes for one connection (bound %d), %s for all at once",
		n, peak.max, kernelQueueBound, mib(uint64(peak.total)))
	if peak.max > kernelQueueBound {
		t.Errorf("the kernel held %d bytes for one connection to a client that does not read, over the bound of %d", peak.max, kernelQueueBound)
	}
}

// queues sums the queues of a server's connections.
type queues struct {
	max   int // the largest send queue
	total int // all of them
	rxMax int // the largest receive queue
	rxAll int // all of them
}

// A queueSampler records the largest queues of the server's
// connections to a set of clients, read from /proc/net/tcp every few
// milliseconds until end. It allocates its buffers once, at the start, so
// that the heap the attack measures is the server's.
type queueSampler struct {
	local   string          // the server's address, as /proc/net/tcp writes it
	clients map[string]bool // the clients' addresses, as /proc/net/tcp writes them
	stop    chan struct{}
	done    chan struct{}

	mu   sync.Mutex // held while reading, which uses buf
	buf  *bufio.Reader
	peak queues
	seen map[string]bool // the clients whose connection was seen with a send queue
	err  error           // the first error
	once sync.Once
}

func sampleQueues(server string, clients []net.Conn) *queueSampler {
	s := &queueSampler{
		local:   procAddr(server),
		clients: make(map[string]bool, len(clients)),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		buf:     bufio.NewReaderSize(nil, 64<<10),
		seen:    make(map[string]bool, len(clients)),
	}
	for _, c := range clients {
		s.clients[procAddr(c.LocalAddr().String())] = true
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			s.now()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// now reads the queues and records them in the peaks.
func (s *queueSampler) now() queues {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.read()
	if err != nil && s.err == nil {
		s.err = err
	}
	s.peak.max = max(s.peak.max, q.max)
	s.peak.total = max(s.peak.total, q.total)
	s.peak.rxMax = max(s.peak.rxMax, q.rxMax)
	s.peak.rxAll = max(s.peak.rxAll, q.rxAll)
	return q
}

// busy returns how many of the server's connections were seen with a send
// queue. (A read of /proc/net/tcp may miss sockets that move in the
// kernel's table meanwhile: this counts those of every read so far.)
func (s *queueSampler) busy() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// end stops the sampler, if it runs, and returns the peaks, or the first
// error in reading them.
func (s *queueSampler) end() (queues, error) {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.err
}

// read reads from /proc/net/tcp the send queues (bytes written and not
// acknowledged: tx_queue) and receive queues (bytes received and not read:
// rx_queue) of the server's connections to the clients.
// s.mu is held.
func (s *queueSampler) read() (queues, error) {
	var q queues
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return q, err
	}
	defer f.Close()
	s.buf.Reset(f)
	first := true
	for {
		line, err := s.buf.ReadSlice('\n')
		if err == io.EOF {
			return q, nil
		}
		if err != nil {
			return q, fmt.Errorf("/proc/net/tcp: %w", err)
		}
		if first { // the header
			first = false
			continue
		}
		// sl local_address rem_address st tx_queue:rx_queue ...
		var f [5][]byte
		rest := line
		for i := range f {
			rest = bytes.TrimLeft(rest, " ")
			end := bytes.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			f[i], rest = rest[:end], rest[end:]
		}
		if string(f[1]) != s.local || !s.clients[string(f[2])] {
			continue
		}
		remote := string(f[2])
		tx, rx, _ := bytes.Cut(f[4], []byte(":"))
		v, err := strconv.ParseUint(string(tx), 16, 64)
		if err != nil {
			return q, fmt.Errorf("/proc/net/tcp: %q: %w", f[4], err)
		}
		in, err := strconv.ParseUint(string(bytes.TrimSpace(rx)), 16, 64)
		if err != nil {
			return q, fmt.Errorf("/proc/net/tcp: %q: %w", f[4], err)
		}
		q.rxMax = max(q.rxMax, int(in))
		q.rxAll += int(in)
		if v > 0 && !s.seen[remote] {
			s.seen[remote] = true
		}
		q.max = max(q.max, int(v))
		q.total += int(v)
	}
}

// procAddr returns an IPv4 address as /proc/net/tcp writes it: the
// address as a little-endian word, then the port, in hex.
func procAddr(addr string) string {
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return ""
	}
	ip := ap.IP.To4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port)
}

// tcpMemory returns the host's TCP memory from /proc/net/sockstat, in
// bytes (the kernel counts it in pages), or 0 when it cannot be read.
func tcpMemory() uint64 {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "TCP:") {
			continue
		}
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "mem" {
				v, _ := strconv.ParseUint(f[i+1], 10, 64)
				return v * uint64(os.Getpagesize())
			}
		}
	}
	return 0
}

// receiveQueueBound is what the kernel may hold, received and not read,
// for one connection to a client that goes on sending while the server
// does not read it: netopt.ReceiveBuffer, which the kernel doubles for its
// bookkeeping, and the segment that may pass it.
const receiveQueueBound = 2*netopt.ReceiveBuffer + 64<<10

// TestAttackEchoInKernel: clients of the echo that send messages of the
// read limit as fast as they can and never read (with the large kernel
// buffers any client may ask for). The echo reads two messages, then
// waits to write until it drops the client as a slow consumer (see
// waitEchoStopped); while it read, the kernel grew each connection's
// receive buffer, which the client then filled: 2.8 MB per connection, 137
// MiB for 64. The bound: what the kernel holds for each connection,
// received and not read (its receive queue, from /proc/net/tcp), stays
// within receiveQueueBound.
func TestAttackEchoInKernel(t *testing.T) {
	testutil.Long(t)
	n := attackConns(t, 64)
	const size = wsReadLimit
	frame := wstest.Encode(wstest.Masked(wstest.OpBinary, bytes.Repeat([]byte("e"), size)))
	var as []*wsAttacker
	var sampler *queueSampler
	runAttack(t, attack{
		prepare: func(t *testing.T, r *attackRig) {
			as = openWS(t, r, n, "/echo", nil, false)
			conns := make([]net.Conn, n)
			for i, a := range as {
				conns[i] = a.nc
			}
			sampler = sampleQueues(r.addr, conns)
			t.Cleanup(func() { sampler.end() })
		},
		start: func(t *testing.T, r *attackRig) uint64 {
			for _, a := range as {
				r.flood(a.nc, frame)
			}
			waitEchoStopped(t, r, as, len(frame))
			return uint64(n) * (2*size + wsSendBuffer + connOverhead)
		},
	})
	peak, err := sampler.end()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d echo clients that send and do not read: the kernel held at most %d bytes received for one connection (bound %d), %s for all at once",
		n, peak.rxMax, receiveQueueBound, mib(uint64(peak.rxAll)))
	if peak.rxMax > receiveQueueBound {
		t.Errorf("the kernel held %d bytes received for one connection whose server does not read, over the bound of %d", peak.rxMax, receiveQueueBound)
	}
}
