package ws

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/wstest"
	"golang.org/x/net/websocket"
)

// countFrames reads server frames from r, discarding payloads, and adds one
// to n per data frame, then calls each of then with the frame's size on
// the wire, until an error.
func countFrames(r *bufio.Reader, n *atomic.Int64, then ...func(wire int64)) {
	var h [10]byte
	for {
		if _, err := io.ReadFull(r, h[:2]); err != nil {
			return
		}
		size, hl := int64(h[1]&0x7f), int64(2)
		switch size {
		case 126:
			hl = 4
			if _, err := io.ReadFull(r, h[2:4]); err != nil {
				return
			}
			size = int64(binary.BigEndian.Uint16(h[2:4]))
		case 127:
			hl = 10
			if _, err := io.ReadFull(r, h[2:10]); err != nil {
				return
			}
			size = int64(binary.BigEndian.Uint64(h[2:10]))
		}
		if _, err := r.Discard(int(size)); err != nil {
			return
		}
		if op := h[0] & 0xf; op == opText || op == opBinary {
			n.Add(1)
			for _, f := range then {
				f(hl + size)
			}
		}
	}
}

// BenchmarkHubFanout1k publishes small messages to one topic with 1,000
// connected readers over TCP, and waits for every copy to be read. One op
// is one message delivered to all 1,000.
func BenchmarkHubFanout1k(b *testing.B) {
	const subs = 1000
	h := NewHub(HubOptions{HistorySize: -1, HistoryBytes: 256 << 20}) // readers may fall far behind a long run
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())
	var got atomic.Int64
	var wg sync.WaitGroup
	for range subs {
		c, _, err := wstest.Dial(srv.URL+"?topic=t", nil)
		if err != nil || c == nil {
			b.Fatal(err)
		}
		defer c.Close()
		wg.Go(func() { countFrames(c.R, &got) })
	}
	payload := []byte(`{"symbol":"ACME","price":12.34,"time":"12:00:00"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := h.Publish("t", MessageText, payload); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(subs) * int64(b.N)
	for got.Load() < want {
		runtime.Gosched()
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
	if s := h.Stats(); s.WriteFailed != 0 {
		b.Fatalf("%d slow consumers", s.WriteFailed)
	}
}

// BenchmarkPublish measures encoding a message once, without subscribers.
func BenchmarkPublish(b *testing.B) {
	h := NewHub(HubOptions{HistorySize: 1024})
	payload := []byte(`{"symbol":"ACME","price":12.34}`)
	b.ReportAllocs()
	for range b.N {
		h.Publish("t", MessageText, payload)
	}
}

// BenchmarkIdleConnMemory opens 2,000 idle connections to a Hub and reports
// the heap and stack they hold per connection (both ends' socket objects
// included), next to plain x/net/websocket serving the same clients in the
// same run, and what the Hub's connections hold when they negotiated
// compression (deflate-B/conn). Run it with -benchtime=1x.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	for range b.N {
		h := NewHub(HubOptions{})
		ours := idleMemory(b, n, h, nil)
		h.Shutdown(context.Background())
		h = NewHub(HubOptions{})
		deflate := idleMemory(b, n, h, offerDeflate)
		h.Shutdown(context.Background())
		xnet := idleMemory(b, n, websocket.Server{Handler: func(c *websocket.Conn) { io.Copy(io.Discard, c) }}, nil)
		b.ReportMetric(ours, "B/conn")
		b.ReportMetric(deflate, "deflate-B/conn")
		b.ReportMetric(xnet, "xnet-B/conn")
		b.ReportMetric(xnet/ours, "x-less-than-xnet")
	}
}

// idleMemory returns heap plus stack bytes per connection held by n idle
// connections to handler, dialed with header h.
func idleMemory(b *testing.B, n int, handler http.Handler, h http.Header) float64 {
	srv := httptest.NewServer(handler)
	defer srv.Close()
	heap0, stack0 := testutil.InUse()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, _, err := wstest.Dial(srv.URL+"?topic=t", h)
		if err != nil || c == nil {
			b.Fatal(err)
		}
		conns = append(conns, c.Conn) // keep the socket only
	}
	heap1, stack1 := testutil.InUse()
	for _, c := range conns {
		c.Close()
	}
	return float64(heap1-heap0+stack1-stack0) / float64(n)
}

// BenchmarkDialWrite writes 16 KiB binary messages from a Dial client,
// masked, to a server that reads them over TCP; one op is one message read
// by the server. Its frames are built masked once, by Write.
func BenchmarkDialWrite(b *testing.B) {
	var read atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{DisableCompression: true})
		if err != nil {
			return
		}
		defer close(done)
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
			read.Add(1)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c, err := Dial(ctx, srv.URL, &DialOptions{DisableCompression: true})
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 16<<10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Write(ctx, MessageBinary, msg); err != nil {
			b.Fatal(err)
		}
	}
	c.Close(StatusNormalClosure, "")
	<-done
	if n := read.Load(); n < int64(b.N) {
		b.Fatalf("server read %d of %d", n, b.N)
	}
}
