package reliability

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Connect/disconnect cycle test sizes.
const (
	cyclesShort   = 2_000
	cycleWorkers  = 8
	cyclesHistory = 64 // small, so that the history is full before warm-up ends
)

// TestConnectCycles opens and closes connections over and over, half SSE
// and half WebSocket, half closed cleanly and half reset, while messages
// are published to their topic, and checks that the server's goroutines
// and live heap do not grow. REALTIME_CYCLES sets the number of cycles.
func TestConnectCycles(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	cycles := envInt(t, "REALTIME_CYCLES", cyclesShort)
	r := startRig(t, rigOptions{
		broker: sse.BrokerOptions{HistorySize: cyclesHistory},
		hub:    ws.HubOptions{HistorySize: cyclesHistory},
	})
	const topic = "cycles"
	p := newPublisher(func(seq int) error {
		if _, err := r.broker.Publish(topic, sse.Event{Data: payload(seq)}); err != nil {
			return err
		}
		_, err := r.hub.Publish(topic, ws.MessageText, []byte(payload(seq)))
		return err
	})
	pubCtx, stopPub := context.WithCancel(context.Background())
	defer stopPub()
	pubErr := make(chan error, 1)
	go func() { pubErr <- p.run(1<<62, time.Millisecond, pubCtx.Done()) }()

	idle := func() bool { return r.broker.Stats().Clients == 0 && r.hub.Stats().Clients == 0 }
	var failed atomic.Int64
	var errMu sync.Mutex
	var errs []string // the first few failures
	run := func(from, to int) {
		work := make(chan int)
		var wg sync.WaitGroup
		for range cycleWorkers {
			wg.Go(func() {
				for i := range work {
					if err := cycle(r.addr, topic, i); err != nil {
						failed.Add(1)
						errMu.Lock()
						if len(errs) < 10 {
							errs = append(errs, err.Error())
						}
						errMu.Unlock()
					}
				}
			})
		}
		for i := from; i < to; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
	}
	start := time.Now()
	warm := cycles / 10
	run(0, warm)
	waitfor.Cond(t, "the server to close every connection", waitTimeout, idle)
	g0, h0 := runtime.NumGoroutine(), liveHeap()
	run(warm, cycles)
	waitfor.Cond(t, "the server to close every connection", waitTimeout, idle)
	g1, h1 := runtime.NumGoroutine(), liveHeap()
	took := time.Since(start)
	stopPub()
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}

	bs, hs := r.broker.Stats(), r.hub.Stats()
	t.Logf("%d connect/disconnect cycles in %v while %d messages were published", cycles, took.Round(time.Millisecond), p.sent.Load())
	t.Logf("after %d cycles: %d goroutines, live heap %s; after %d: %d goroutines, live heap %s", warm, g0, mib(h0), cycles, g1, mib(h1))
	t.Logf("broker %+v", bs)
	t.Logf("hub %+v", hs)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d cycles failed; the first: %q", n, errs)
	}
	if want := uint64(cycles - cycles/2); bs.Opened != want {
		t.Errorf("broker opened %d streams, want %d", bs.Opened, want)
	}
	if want := uint64(cycles / 2); hs.Opened != want {
		t.Errorf("hub accepted %d connections, want %d", hs.Opened, want)
	}
	if bs.Refused+bs.Rejected+hs.Refused != 0 {
		t.Errorf("requests refused: broker %+v, hub %+v", bs, hs)
	}
	if g1 > g0+goroutineSlack {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if float64(h1) > float64(h0)*(1+memoryTolerance)+heapSlack {
		t.Errorf("live heap grew from %s to %s", mib(h0), mib(h1))
	}
}

// cycle opens one connection and closes it: cycle i is an SSE stream when
// i is even and a WebSocket otherwise, closed cleanly or reset in turn.
func cycle(addr, topic string, i int) error {
	reset := i/2%2 == 1
	if i%2 == 0 {
		c, resp, err := dialSSE(nil, addr, "/events?topic="+topic, nil)
		if c == nil {
			return fmt.Errorf("sse cycle %d: %v %s", i, err, respStatus(resp))
		}
		if reset {
			c.nc.(*net.TCPConn).SetLinger(0)
		}
		return c.Close()
	}
	c, resp, err := dialWS(nil, addr, "/ws?topic="+topic, nil)
	if c == nil {
		return fmt.Errorf("ws cycle %d: %v %s", i, err, respStatus(resp))
	}
	if reset {
		c.nc.(*net.TCPConn).SetLinger(0)
		return c.Close()
	}
	if err := c.CloseClean(); err != nil {
		return fmt.Errorf("ws cycle %d: %w", i, err)
	}
	return nil
}
