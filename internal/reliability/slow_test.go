package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Slow client test sizes.
const (
	slowFast = 10 // fast clients of each kind
	// slowWriteTimeout is long enough that a fast client's write, waiting
	// for the CPU on a loaded machine, is not taken for a slow one.
	slowWriteTimeout = 5 * time.Second
	slowPace         = 5 * time.Millisecond
	slowSize         = 2 << 10 // bytes per message
	slowPhase        = 300     // messages published in each phase
	// slowSendBuffer is the server's socket send buffer in this test:
	// small, so that the slow clients' buffers fill within slowBufferFill
	// at slowSize every slowPace (Linux would let it grow to 4 MiB).
	slowSendBuffer = 64 << 10
	slowBufferFill = time.Second
)

// TestSlowClientsEvicted runs fast SSE and WebSocket clients alone, then
// next to a client of each kind that reads one byte a second and one that
// never reads. The slow ones must be evicted within the write deadline
// once their socket buffers are full, with a reason, while every fast client gets every message. The fast clients'
// p99 latency with and without the slow ones is logged, not asserted.
func TestSlowClientsEvicted(t *testing.T) {
	type remoteKey struct{}
	testutil.Long(t)
	leakcheck.CheckWithin(t, waitTimeout)
	logs := &logRecorder{}
	var mu sync.Mutex
	wsClosed := map[string]error{} // by the client's local address
	r := startRig(t, rigOptions{
		broker: sse.BrokerOptions{
			WriteTimeout: slowWriteTimeout,
			Logger:       slog.New(logs),
		},
		sendBuffer: slowSendBuffer,
		hub: ws.HubOptions{
			Conn: ws.AcceptOptions{WriteTimeout: slowWriteTimeout},
			OnConnect: func(m *ws.Member, r *http.Request) {
				m.Conn().SetContext(context.WithValue(m.Conn().Context(), remoteKey{}, r.RemoteAddr))
			},
			OnClose: func(m *ws.Member, err error) {
				mu.Lock()
				wsClosed[m.Conn().Context().Value(remoteKey{}).(string)] = err
				mu.Unlock()
			},
		},
	})
	const topic = "slow"
	var wg sync.WaitGroup
	defer wg.Wait()
	var fast []*tally
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for range slowFast {
		c, resp, err := dialSSE(nil, r.addr, "/events?topic="+topic, nil)
		if c == nil {
			t.Fatal(err, respStatus(resp))
		}
		closers = append(closers, c.Close)
		tl := &tally{keepLat: true}
		fast = append(fast, tl)
		wg.Go(func() { tl.fail(fmt.Errorf("fast SSE client: %w", readSSE(c, tl))) })
	}
	for range slowFast {
		c, resp, err := dialWS(nil, r.addr, "/ws?topic="+topic, nil)
		if c == nil {
			t.Fatal(err, respStatus(resp))
		}
		closers = append(closers, c.Close)
		tl := &tally{keepLat: true}
		fast = append(fast, tl)
		wg.Go(func() { tl.fail(fmt.Errorf("fast WebSocket client: %w", readWS(c, tl))) })
	}

	p := newPublisher(func(seq int) error {
		data := paddedPayload(seq, slowSize)
		if _, err := r.broker.Publish(topic, sse.Event{Data: data}); err != nil {
			return err
		}
		_, err := r.hub.Publish(topic, ws.MessageText, []byte(data))
		return err
	})
	// delivered waits for the fast clients to get every message published
	// and returns their p99 latency since the last call.
	delivered := func() time.Duration {
		t.Helper()
		waitfor.Cond(t, "the fast clients to get every message", waitTimeout, func() bool {
			for _, tl := range fast {
				if got, err := tl.count(); got < int(p.sent.Load()) && err == nil {
					return false
				}
			}
			return true
		})
		var lat []time.Duration
		for _, tl := range fast {
			lat = append(lat, tl.takeLatencies()...)
		}
		return p99(lat)
	}
	if err := p.run(slowPhase, slowPace, nil); err != nil {
		t.Fatal(err)
	}
	alone := delivered()

	// The slow clients: sockets with small buffers; one of each kind
	// reads a byte a second, the other never reads.
	stop := make(chan struct{})
	defer close(stop)
	var slowAddrs []string
	for _, trickle := range []bool{true, false} {
		c, resp, err := dialSSE(smallBuffers, r.addr, "/events?topic="+topic, nil)
		if c == nil {
			t.Fatal(err, respStatus(resp))
		}
		closers = append(closers, c.Close)
		if trickle {
			wg.Go(func() { trickleRead(c.nc, stop) })
		}
		w, resp, err := dialWS(smallBuffers, r.addr, "/ws?topic="+topic, nil)
		if w == nil {
			t.Fatal(err, respStatus(resp))
		}
		closers = append(closers, w.Close)
		slowAddrs = append(slowAddrs, w.nc.LocalAddr().String())
		if trickle {
			wg.Go(func() { trickleRead(w.nc, stop) })
		}
	}

	// Publish on until the slow clients are evicted and a phase's worth of
	// messages went out.
	start := time.Now()
	pubCtx, stopPub := context.WithCancel(context.Background())
	defer stopPub()
	pubErr := make(chan error, 1)
	sentBefore := p.sent.Load()
	go func() { pubErr <- p.run(1<<30, slowPace, pubCtx.Done()) }()
	evicted := func() (bool, string) {
		s := r.broker.Stats()
		mu.Lock()
		defer mu.Unlock()
		closed := 0
		for _, a := range slowAddrs {
			if _, ok := wsClosed[a]; ok {
				closed++
			}
		}
		return s.WriteFailed == 2 && s.Clients == slowFast && closed == 2,
			fmt.Sprintf("%d slow WebSocket connections closed; broker %+v; hub %+v", closed, s, r.hub.Stats())
	}
	// The slow sockets' buffers fill at the publishing rate; then a write
	// blocks and fails after the write timeout.
	waitfor.State(t, "the slow clients to be evicted", waitTimeout, evicted)
	took := time.Since(start)
	waitfor.Cond(t, "a phase of messages", waitTimeout, func() bool { return p.sent.Load()-sentBefore >= slowPhase })
	stopPub()
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	beside := delivered()
	t.Logf("slow clients evicted %v after they connected, %d messages (%s) later",
		took.Round(time.Millisecond), p.sent.Load()-sentBefore, mib(uint64(p.sent.Load()-sentBefore)*slowSize))
	ratio := float64(beside) / float64(alone)
	t.Logf("fast clients' p99 latency: %v alone, %v beside the slow clients: ratio %.2f", alone, beside, ratio)

	s, h := r.broker.Stats(), r.hub.Stats()
	t.Logf("broker %+v", s)
	t.Logf("hub %+v", h)
	for _, l := range logs.lines() {
		t.Logf("broker log: %s", l)
	}
	if n := len(logs.lines()); n != 2 {
		t.Errorf("broker logged %d warnings, want one reason for each slow stream", n)
	}
	mu.Lock()
	for _, a := range slowAddrs {
		err := wsClosed[a]
		t.Logf("ws slow client %s closed: %v", a, err)
		if !errors.Is(err, ws.ErrSlowConsumer) || wsCloseCode(err) != ws.StatusSlowConsumer {
			t.Errorf("ws slow client closed with %v, want %v wrapping ErrSlowConsumer", err, ws.StatusSlowConsumer)
		}
	}
	mu.Unlock()
	if h.WriteFailed != 2 {
		t.Errorf("hub counted %d slow connections, want 2", h.WriteFailed)
	}
	if h.Clients != slowFast {
		t.Errorf("hub holds %d connections, want the %d fast ones", h.Clients, slowFast)
	}
	for i, tl := range fast {
		if got, err := tl.count(); got != int(p.sent.Load()) || err != nil {
			t.Errorf("fast client %d: %d of %d messages, %v", i, got, p.sent.Load(), err)
		}
	}
}

// trickleRead reads one byte a second from c until it fails or stop is
// closed.
func trickleRead(c net.Conn, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var b [1]byte
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if _, err := c.Read(b[:]); err != nil {
			return
		}
	}
}
