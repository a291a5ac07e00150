package ws

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
)

// burstMessages is a burst published in a loop: about 500 KB of small
// messages, far inside the default history bytes.
const burstMessages = 5000

// TestHubBurstReachesFastConns: a burst published in a loop reaches every
// fast connection whole and in order, with no gap and no close.
func TestHubBurstReachesFastConns(t *testing.T) {
	leakcheck.Check(t)
	h, srv := serveHub(t, HubOptions{})
	const conns = 4
	var cs []*wstest.Conn
	for range conns {
		cs = append(cs, dial(t, srv.URL+"?topic=burst", nil))
	}
	waitfor.Cond(t, "connections", waitTimeout, func() bool { return h.Stats().Clients == conns })
	// Every connection reads from the start: one left waiting while the
	// others read would be a slow one.
	got := make([][]envelope, conns)
	var wg sync.WaitGroup
	for n, c := range cs {
		wg.Go(func() {
			for i := range burstMessages {
				op, data, err := c.ReadMessage()
				if err != nil {
					t.Errorf("conn %d: message %d of %d: %v", n, i, burstMessages, err)
					return
				}
				got[n] = append(got[n], decodeEnvelope(t, op, data))
			}
		})
	}
	pad := strings.Repeat("x", 80)
	ids := make([]string, burstMessages)
	for i := range ids {
		id, err := h.Publish("burst", MessageText, fmt.Appendf(nil, "%05d %s", i, pad))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	wg.Wait()
	for n := range got {
		for i, e := range got[n] {
			if e.Type == "gap" || e.ID != ids[i] {
				t.Fatalf("conn %d: message %d is %+v, want ID %s", n, i, e, ids[i])
			}
		}
	}
}

// TestSendLoopToFastReader: a loop of Send to a reader that keeps up
// delivers everything; Send never closes a healthy connection.
func TestSendLoopToFastReader(t *testing.T) {
	leakcheck.Check(t)
	const n = 2000
	errs := make(chan error, 1)
	srv := serve(t, nil, func(c *Conn) {
		var err error
		for i := range n {
			if err = c.Send(MessageText, fmt.Appendf(nil, "%04d %s", i, strings.Repeat("y", 90))); err != nil {
				break
			}
		}
		errs <- err
		c.Read(context.Background()) // until the client closes
		c.CloseNow()
	})
	c := dial(t, srv.URL, nil)
	for i := range n {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, n, err)
		}
		if want := fmt.Sprintf("%04d ", i); !strings.HasPrefix(string(data), want) {
			t.Fatalf("message %d is %.10q, want %q first", i, data, want)
		}
	}
	if err := <-errs; err != nil {
		t.Fatalf("Send: %v", err)
	}
}

// TestEchoHoldsBytesNotMessages: a client that sends large messages to an
// echo handler and never reads cannot make the server hold more than the
// connection's send budget and read limit, whatever it sends.
func TestEchoHoldsBytesNotMessages(t *testing.T) {
	leakcheck.Check(t)
	const (
		size = 1 << 20 // the default read limit
		msgs = 40
	)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	srv := serve(t, nil, func(c *Conn) {
		defer close(done)
		for range msgs {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				break
			}
			err = c.Send(typ, data)
			data = nil
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			if err != nil {
				break
			}
		}
		c.CloseNow()
	})
	c := dial(t, srv.URL, nil)
	payload := []byte(strings.Repeat("z", size))
	go func() {
		for range msgs {
			if c.WriteFrames(wstest.Masked(wstest.OpBinary, payload)) != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("echo handler did not finish")
	}
	// The server's share is at most SendBuffer, a message being read and
	// one being written; the test's own client, in the same process,
	// holds a few MiB of frames too.
	const budget = 16 << 20
	if grew := int64(peak.Load()) - int64(base.HeapAlloc); grew > budget {
		t.Fatalf("server heap grew by %d MiB for one client, want under %d MiB", grew>>20, budget>>20)
	}
}

// TestNewHubRefusesBadEpoch: an epoch that could not stand in an ID is
// refused where it is set, not turned into IDs no client can resume from.
func TestNewHubRefusesBadEpoch(t *testing.T) {
	for _, epoch := range []string{"tab\there", strings.Repeat("x", 44), "a b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHub with epoch %q did not panic", epoch)
				}
			}()
			NewHub(HubOptions{Epoch: epoch})
		}()
	}
}

// TestPingFloodHoldsLittle: a client that pings as fast as it can and
// never reads makes the server hold a bounded list of pongs, not one per
// ping (RFC 6455 lets it answer only the last ping).
func TestPingFloodHoldsLittle(t *testing.T) {
	leakcheck.Check(t)
	const pings = 100_000 // 12.5 MB of pongs, far more than socket buffers take
	grew := make(chan int64, 1)
	srv := serve(t, nil, func(c *Conn) {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		c.Read(context.Background()) // returns at the text message after the pings
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		grew <- int64(after.HeapAlloc) - int64(before.HeapAlloc)
		c.CloseNow()
	})
	c := dial(t, srv.URL, nil)
	ping := wstest.Encode(wstest.Masked(wstest.OpPing, []byte(strings.Repeat("p", 125))))
	flood := make([]byte, 0, len(ping)*1000)
	for range 1000 {
		flood = append(flood, ping...)
	}
	go func() {
		for range pings / 1000 {
			if _, err := c.Write(flood); err != nil {
				return
			}
		}
		c.WriteFrames(wstest.Masked(wstest.OpText, []byte("done")))
	}()
	select {
	case n := <-grew:
		if n > 2<<20 {
			t.Fatalf("server heap grew by %d KiB for %d unread pongs, want a bounded list", n>>10, pings)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the server did not read the pings")
	}
}
