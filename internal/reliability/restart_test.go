package reliability

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Restart test sizes: clients of each kind, messages published, and when
// the server restarts.
const (
	restartClients  = 10
	restartMessages = 300
	restartAt       = 100
	restartPace     = 2 * time.Millisecond
)

// TestRestartResumes restarts the server while it streams, and checks
// that every SSE and WebSocket client reconnects and resumes with every
// message exactly once, in order, and no gap.
//
// "graceful" is the restart of the examples: the listener closes, the
// Broker and the Hub shut down, their history is saved, and a new server
// with a new Broker and Hub that load it listens on the same address.
// "crash" cuts every connection at once and serves the same Broker and Hub
// on a new listener at the same address, as a restart of the network
// between server and clients would.
func TestRestartResumes(t *testing.T) {
	for _, graceful := range []bool{true, false} {
		name := map[bool]string{true: "graceful", false: "crash"}[graceful]
		t.Run(name, func(t *testing.T) { testRestart(t, graceful) })
	}
}

func testRestart(t *testing.T, graceful bool) {
	leakcheck.CheckWithin(t, waitTimeout)
	opts := rigOptions{
		broker: sse.BrokerOptions{Retry: 20 * time.Millisecond},
		hub:    ws.HubOptions{},
	}
	r1 := startRig(t, opts)
	const topic = "restart"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sseTallies := make([]*tally, restartClients)
	sseReconnects := make([]atomic.Int64, restartClients)
	for i := range sseTallies {
		tl := &tally{}
		sseTallies[i] = tl
		c := &sse.Client{HTTPClient: hc, Retry: 20 * time.Millisecond,
			OnRetry: func(int, time.Duration, error) { sseReconnects[i].Add(1) }}
		s, err := c.Subscribe(ctx, r1.url("/events?topic="+topic), "")
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer s.Close()
			for {
				n, err := tl.count()
				if n == restartMessages || err != nil {
					return
				}
				ev, err := s.Next()
				switch {
				case err != nil:
					tl.fail(fmt.Errorf("sse: %w", err))
				case ev.Type == sse.GapEvent:
					tl.fail(fmt.Errorf("sse: gap: %s", ev.Data))
				default:
					tl.add(ev.ID, ev.Data)
				}
			}
		})
	}
	wsTallies := make([]*tally, restartClients)
	wsReconnects := make([]atomic.Int64, restartClients)
	for i := range wsTallies {
		tl := &tally{}
		wsTallies[i] = tl
		c, resp, err := dialWS(nil, r1.addr, "/ws?topic="+topic, nil)
		if err != nil || c == nil {
			t.Fatalf("dial: %v %v", err, resp)
		}
		wg.Go(func() { wsResume(ctx, c, r1.addr, topic, tl, restartMessages, &wsReconnects[i]) })
	}

	ssePub := newPublisher(func(seq int) error {
		_, err := r1.broker.Publish(topic, sse.Event{Data: payload(seq)})
		return err
	})
	wsPub := newPublisher(func(seq int) error {
		_, err := r1.hub.Publish(topic, ws.MessageText, []byte(payload(seq)))
		return err
	})
	pubErr := make(chan error, 2)
	stop := make(chan struct{})
	defer close(stop)
	for _, p := range []*publisher{ssePub, wsPub} {
		go func() { pubErr <- p.run(restartMessages, restartPace, stop) }()
	}

	waitfor.Cond(t, "the messages before the restart", waitTimeout, func() bool {
		return ssePub.sent.Load() >= restartAt && wsPub.sent.Load() >= restartAt
	})
	start := time.Now()
	if graceful {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := r1.shutdown(sctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		var savedB, savedH bytes.Buffer
		if err := r1.broker.SaveHistory(&savedB); err != nil {
			t.Fatal(err)
		}
		if err := r1.hub.SaveHistory(&savedH); err != nil {
			t.Fatal(err)
		}
		b2, h2 := sse.NewBroker(opts.broker), ws.NewHub(opts.hub)
		if err := b2.LoadHistory(&savedB); err != nil {
			t.Fatal(err)
		}
		if err := h2.LoadHistory(&savedH); err != nil {
			t.Fatal(err)
		}
		r2 := serveRig(t, r1.addr, b2, h2)
		ssePub.set(func(seq int) error {
			_, err := r2.broker.Publish(topic, sse.Event{Data: payload(seq)})
			return err
		})
		wsPub.set(func(seq int) error {
			_, err := r2.hub.Publish(topic, ws.MessageText, []byte(payload(seq)))
			return err
		})
	} else {
		r1.crash()
		serveRig(t, r1.addr, r1.broker, r1.hub)
	}
	t.Logf("server down and up again in %v, after %d SSE and %d WebSocket messages",
		time.Since(start), ssePub.sent.Load(), wsPub.sent.Load())

	for range 2 {
		if err := <-pubErr; err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	all := append(append([]*tally(nil), sseTallies...), wsTallies...)
	waitfor.Cond(t, "every client to get every message", waitTimeout, func() bool {
		for _, tl := range all {
			if n, err := tl.count(); n < restartMessages && err == nil {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()
	for i, tl := range all {
		kind, k := "sse", i
		if i >= restartClients {
			kind, k = "ws", i-restartClients
		}
		if n, err := tl.count(); err != nil || n != restartMessages {
			t.Errorf("%s client %d: %d of %d messages, %v", kind, k, n, restartMessages, err)
		}
	}
	for i := range restartClients {
		if sseReconnects[i].Load() < 1 {
			t.Errorf("sse client %d did not try to reconnect", i)
		}
		if wsReconnects[i].Load() < 1 {
			t.Errorf("ws client %d did not reconnect", i)
		}
	}
}

// wsResume reads c into tl, and when the connection ends reconnects to
// addr with the last ID it got, until tl holds want messages or ctx ends.
// A gap notice is a failure.
func wsResume(ctx context.Context, c *wsConn, addr, topic string, tl *tally, want int, reconnects *atomic.Int64) {
	for {
		if c != nil {
			stopClose := context.AfterFunc(ctx, func() { c.Close() })
			for {
				if n, err := tl.count(); n >= want || err != nil {
					stopClose()
					c.Close()
					return
				}
				e, err := c.ReadEnvelope()
				if err != nil {
					break
				}
				if e.Type == "gap" {
					tl.fail(fmt.Errorf("ws: gap notice %+v", e))
					break
				}
				tl.add(e.ID, e.Data)
			}
			stopClose()
			c.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if _, err := tl.count(); err != nil {
			return
		}
		// Back off a little, as the package's browser client does.
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
		nc, resp, err := dialWS(nil, addr, "/ws?topic="+url.QueryEscape(topic)+"&lastEventId="+url.QueryEscape(tl.last()), nil)
		switch {
		case err != nil:
			c = nil
		case nc == nil:
			if resp.StatusCode != http.StatusServiceUnavailable {
				tl.fail(fmt.Errorf("ws: reconnect: status %d", resp.StatusCode))
				return
			}
			c = nil
		default:
			reconnects.Add(1)
			c = nc
		}
	}
}
