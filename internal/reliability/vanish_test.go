package reliability

import (
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Keep-alive and write bounds of the vanished-client tests. The WebSocket
// ping interval is long enough that its pong timeout (half of it) does not
// take a client answering pings on a loaded machine for a vanished one.
const (
	vanishPing         = 300 * time.Millisecond
	vanishWSPing       = 4 * time.Second
	vanishWriteTimeout = 500 * time.Millisecond
)

// TestVanishedWebSocketClientFreed checks that a WebSocket client that
// vanishes without closing (its traffic blackholed, its socket left open)
// is dropped by the keep-alive with ErrPongTimeout, and its resources
// freed, within 1.5 PingIntervals: the client may vanish just after
// answering a ping; the next ping goes PingInterval after it and is found
// unanswered half a PingInterval later.
func TestVanishedWebSocketClientFreed(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	closed := make(chan error, 1)
	r := startRig(t, rigOptions{hub: ws.HubOptions{
		Conn: ws.AcceptOptions{PingInterval: vanishWSPing},
		OnClose: func(_ *ws.Member, err error) {
			closed <- err
		},
	}})
	p := startProxy(t, r.addr)
	c, resp, err := dialWS(nil, p.addr(), "/ws?topic=vanish", nil)
	if c == nil {
		t.Fatal(err, respStatus(resp))
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer c.Close()
	wg.Go(func() { readWS(c, &tally{}) }) // answers pings until the blackhole

	// The client answers pings: the connection lives through several.
	waitfor.Cond(t, "three pings", waitTimeout, func() bool { return c.pings.Load() >= 3 })
	select {
	case err := <-closed:
		t.Fatalf("connection closed before the client vanished: %v", err)
	default:
	}

	start := time.Now()
	p.blackhole()
	bound := vanishWSPing + vanishWSPing/2
	select {
	case err = <-closed:
	case <-time.After(waitTimeout):
		t.Fatalf("vanished client still connected after %v (bound %v)", waitTimeout, bound)
	}
	took := time.Since(start)
	t.Logf("vanished WebSocket client dropped after %v (bound %v): %v", took.Round(time.Millisecond), bound, err)
	if !errors.Is(err, ws.ErrPongTimeout) || wsCloseCode(err) != ws.StatusPolicyViolation {
		t.Errorf("closed with %v, want %v wrapping ErrPongTimeout", err, ws.StatusPolicyViolation)
	}
	waitfor.Cond(t, "the hub to free the connection", waitTimeout, func() bool { return r.hub.Stats().Clients == 0 })
}

// TestVanishedSSEClientFreed checks that an SSE client that vanishes
// without closing is freed once the server's writes to it stall: within
// the time its socket buffers take to fill plus WriteTimeout. An SSE
// server has no other way to notice: the client never sends anything.
func TestVanishedSSEClientFreed(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	logs := &logRecorder{}
	r := startRig(t, rigOptions{
		broker: sse.BrokerOptions{
			WriteTimeout: vanishWriteTimeout,
			Heartbeat:    vanishPing,
			Logger:       slog.New(logs),
		},
		sendBuffer: slowSendBuffer,
	})
	p := startProxy(t, r.addr)
	c, resp, err := dialSSE(nil, p.addr(), "/events?topic=vanish", nil)
	if c == nil {
		t.Fatal(err, respStatus(resp))
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer c.Close()
	wg.Go(func() { readSSE(c, &tally{}) })

	pub := newPublisher(func(seq int) error {
		_, err := r.broker.Publish("vanish", sse.Event{Data: paddedPayload(seq, slowSize)})
		return err
	})
	stop := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() { pubErr <- pub.run(1<<30, slowPace, stop) }()
	defer func() {
		close(stop)
		if err := <-pubErr; err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	p.blackhole()
	bound := slowBufferFill + vanishWriteTimeout
	waitfor.Cond(t, "the broker to free the vanished stream", waitTimeout, func() bool {
		s := r.broker.Stats()
		return s.Clients == 0 && s.WriteFailed == 1
	})
	t.Logf("vanished SSE client freed after %v (bound %v), %d messages later; %q",
		time.Since(start).Round(time.Millisecond), bound, pub.sent.Load(), logs.lines())
}

// wsCloseCode returns the code of the *ws.CloseError in err's chain, or -1.
func wsCloseCode(err error) ws.StatusCode {
	var ce *ws.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}
