package reliability

import (
	"context"
	"fmt"
	"github.com/realtime-go/realtime/internal/waitfor"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
	"github.com/realtime-go/realtime/ws"
)

// headerOnlyConns is how many connections the header-only attacks open,
// unless REALTIME_HOSTILE_CONNS says otherwise.
const headerOnlyConns = 200

// headerOnlyOverhead is what one connection of the header-only attacks may
// add to the server's live heap once its frames are read, besides the
// bytes it sent: the frame reader's state, nothing near the read limit.
const headerOnlyOverhead = 16 << 10

// TestHeaderOnlyFrames opens headerOnlyConns WebSocket connections to a
// default ws.Hub and to a handler that reads with ws.Accept, each sending
// frames that announce the read limit and then holding without sending the
// payload. Once the server has read every byte sent and waits for more,
// its live heap must have grown by the bytes received plus a small
// per-connection overhead, not by the announced lengths. Meanwhile a
// well-behaved client of the Hub gets every message published, and the
// test logs its p99 latency.
func TestHeaderOnlyFrames(t *testing.T) {
	const limit = ws.DefaultReadLimit
	conns := envInt(t, "REALTIME_HOSTILE_CONNS", headerOnlyConns)
	attacks := []struct {
		name   string
		frames func() []byte
	}{
		{"one frame", func() []byte { return wstest.Header(true, wstest.OpBinary, limit) }},
		{"fragments", func() []byte {
			// A first fragment that arrives whole, then a continuation
			// announcing the rest of the limit.
			first := wstest.Encode(wstest.Frame{Op: wstest.OpText, Masked: true, Payload: []byte("hello")})
			return append(first, wstest.Header(true, wstest.OpContinuation, limit-5)...)
		}},
	}
	servers := []struct {
		name    string
		handler func(t *testing.T) (http.Handler, *ws.Hub, func())
	}{
		{"Hub", func(t *testing.T) (http.Handler, *ws.Hub, func()) {
			h := ws.NewHub(ws.HubOptions{})
			return h, h, func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				if err := h.Shutdown(ctx); err != nil {
					t.Error(err)
				}
			}
		}},
		{"Accept", func(t *testing.T) (http.Handler, *ws.Hub, func()) {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := ws.Accept(w, r, nil)
				if err != nil {
					return
				}
				go func() {
					defer c.CloseNow()
					for {
						if _, _, err := c.Read(context.Background()); err != nil {
							return
						}
					}
				}()
			}), nil, func() {}
		}},
	}
	for _, s := range servers {
		for _, a := range attacks {
			t.Run(s.name+"/"+a.name, func(t *testing.T) {
				leakcheck.CheckWithin(t, waitTimeout)
				h, hub, stop := s.handler(t)
				defer stop()
				growth, sent := headerOnlyAttack(t, h, hub, "/ws?topic=t", conns, a.frames)
				budget := sent + uint64(conns)*headerOnlyOverhead
				t.Logf("%d connections sent %d bytes announcing %d each: live heap grew by %d KiB (budget %d KiB)",
					conns, sent, limit, growth>>10, budget>>10)
				if growth > budget {
					t.Errorf("live heap grew by %s for %d bytes received: over the budget of %s",
						mib(growth), sent, mib(budget))
				}
			})
		}
	}
}

// headerOnlyAttack serves h on 127.0.0.1, opens n WebSocket connections to
// target, sends frames() on each and waits until the server has read all
// of it and waits for more. It returns how much the live heap grew from
// before the frames were sent, and the bytes sent. When hub is not nil, a
// well-behaved client follows a topic of it to which messages are
// published throughout, and must get every one.
func headerOnlyAttack(t *testing.T, h http.Handler, hub *ws.Hub, target string, n int, frames func() []byte) (growth, sent uint64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := wstest.Watch(l)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: defaultReadHeaderTimeout}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	defer func() {
		srv.Close()
		<-served
	}()

	conns := make([]*wstest.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	base := make([]int64, 0, n)
	for range n {
		c, resp, err := wstest.Dial("ws://"+l.Addr().String()+target, nil)
		if c == nil {
			t.Fatal(err, respStatus(resp))
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		// The server read the whole request before it answered.
		n, _ := ln.State(c.LocalAddr())
		base = append(base, n)
	}
	if hub != nil {
		done := liveClient(t, hub, l.Addr().String())
		defer done()
	}
	before := liveHeap()
	for _, c := range conns {
		b := frames()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		sent += uint64(len(b))
	}
	per := int64(sent) / int64(len(conns))
	waitfor.State(t, "the server to read every frame header and wait for the payload", waitTimeout, func() (bool, string) {
		for i, c := range conns {
			got, waiting := ln.State(c.LocalAddr())
			if got != base[i]+per || !waiting {
				return false, fmt.Sprintf("connection %d: read %d of %d bytes, waiting %v", i, got-base[i], per, waiting)
			}
		}
		return true, ""
	})
	after := liveHeap()
	if after > before {
		growth = after - before
	}
	// The connections must still be open: the server waits for payload.
	for i, c := range conns {
		c.SetReadDeadline(time.Now())
		if _, err := c.R.Peek(1); err == nil {
			t.Fatalf("connection %d: the server sent something to a client in the middle of a frame", i)
		}
		c.SetReadDeadline(time.Time{})
	}
	return growth, sent
}

// liveClient connects a well-behaved client to hub, served at addr, and
// publishes to it every 2 ms until the returned function is called, which
// checks that the client got every message and logs its p99 latency.
func liveClient(t *testing.T, hub *ws.Hub, addr string) func() {
	t.Helper()
	c, resp, err := dialWS(nil, addr, "/ws?topic=live", nil)
	if c == nil {
		t.Fatal(err, respStatus(resp))
	}
	tl := &tally{keepLat: true}
	read := make(chan struct{})
	go func() {
		defer close(read)
		readWS(c, tl)
	}()
	p := newPublisher(func(seq int) error {
		_, err := hub.Publish("live", ws.MessageText, []byte(payload(seq)))
		return err
	})
	stop := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() { pubErr <- p.run(1<<30, 2*time.Millisecond, stop) }()
	waitfor.Cond(t, "the live client's first message", waitTimeout, func() bool { n, _ := tl.count(); return n > 0 })
	return func() {
		t.Helper()
		close(stop)
		if err := <-pubErr; err != nil {
			t.Error(err)
		}
		sent := int(p.sent.Load())
		waitfor.Cond(t, "the live client to get every message", waitTimeout, func() bool {
			n, err := tl.count()
			return n == sent || err != nil
		})
		c.Close()
		<-read
		if _, err := tl.count(); err != nil {
			t.Errorf("live client: %v", err)
		}
		t.Logf("live client: %d messages, p99 latency %v", sent, p99(tl.takeLatencies()))
	}
}
