package sse

import (
	"context"
	"fmt"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkAppendEvent(b *testing.B) {
	for _, tt := range []struct {
		name string
		ev   Event
	}{
		{"small", Event{ID: "Xk3f-1042", Data: `{"sym":"ACME","price":12.5}`}},
		{"lines", Event{ID: "Xk3f-1042", Type: "tick", Data: strings.Repeat("a line of text\n", 20)}},
		{"1KiB", Event{ID: "Xk3f-1042", Data: strings.Repeat("x", 1024)}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(tt.ev.Data)))
			for b.Loop() {
				buf, _ = encodeEvent(buf[:0], tt.ev)
			}
		})
	}
}

func BenchmarkReader(b *testing.B) {
	ev, _ := encodeEvent(nil, Event{ID: "Xk3f-1042", Type: "tick", Data: `{"sym":"ACME","price":12.5}`})
	stream := strings.Repeat(string(ev), 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		r := NewReader(strings.NewReader(stream))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

// countingWriter is an in-process http.ResponseWriter that counts the bytes
// written to all of them, so that a benchmark measures the hub and the
// writer without a network. It can flush but not set deadlines.
type countingWriter struct {
	h     http.Header
	total *atomic.Int64
	want  *atomic.Int64
	reach chan struct{}
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) Flush()              {}
func (w *countingWriter) Write(p []byte) (int, error) {
	if w.total.Add(int64(len(p))) >= w.want.Load() {
		select {
		case w.reach <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// BenchmarkBrokerFanout publishes one event to every subscriber and waits
// until each stream's writer has written it: the in-process cost of the
// hub and the writers, per publish, without a network. The writers cannot
// be hijacked, so this is the path HTTP/2 streams take: one goroutine per
// stream waiting on the hub. BenchmarkBrokerFanoutTCP measures the HTTP/1.1
// path over sockets.
func BenchmarkBrokerFanout(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			br := NewBroker(BrokerOptions{Heartbeat: -1, Retry: -1})
			var total, want atomic.Int64
			want.Store(1 << 62)
			reach := make(chan struct{}, 1)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range n {
				// Each request has a context of its own, as on a server.
				rctx, rcancel := context.WithCancel(ctx)
				defer rcancel()
				w := &countingWriter{h: http.Header{}, total: &total, want: &want, reach: reach}
				req := httptest.NewRequest("GET", "/?topic=prices", nil).WithContext(rctx)
				wg.Go(func() { br.ServeHTTP(w, req) })
			}
			waitfor.Cond(b, "every stream to open", 30*time.Second, func() bool { return br.Stats().Clients == n })
			ev := Event{Data: `{"sym":"ACME","price":12.5}`}

			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var deliveries int64
			for i := 0; i < b.N; i++ {
				// IDs grow in length: count the bytes of this one.
				id := fmt.Sprintf("%s-%d", br.hub.Epoch(), i+1)
				size, _ := eventLen(Event{ID: id, Data: ev.Data})
				want.Store(total.Load() + int64(size*n))
				if _, err := br.Publish("prices", ev); err != nil {
					b.Fatal(err)
				}
				for total.Load() < want.Load() {
					<-reach
				}
				deliveries += int64(n)
			}
			b.StopTimer()
			b.ReportMetric(float64(deliveries)/time.Since(start).Seconds(), "deliveries/s")
			cancel()
			wg.Wait()
			br.Shutdown(context.Background())
		})
	}
}

// BenchmarkIdleStream reports the memory one idle stream costs: b.N
// streams are opened over real 127.0.0.1 connections (HTTP/1.1, raw TCP
// clients that hold only their socket) and left idle, served in their
// handlers ("tcp", the default) or taken over ("tcp-takeover"). "B/stream"
// counts the server's heap and goroutine stacks plus the client's socket;
// "handler-B/stream" is the Broker's own share of a stream served in its
// handler, measured with in-process writers, which take the path of HTTP/2
// streams (a goroutine per stream, included). Run it with
// -benchtime=2000x.
func BenchmarkIdleStream(b *testing.B) {
	for _, takeOver := range []bool{false, true} {
		name := map[bool]string{false: "tcp", true: "tcp-takeover"}[takeOver]
		b.Run(name, func(b *testing.B) { benchIdleTCP(b, takeOver) })
	}
	b.Run("in-process", func(b *testing.B) {
		br := NewBroker(BrokerOptions{})
		var total, want atomic.Int64
		want.Store(1 << 62)
		reach := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		heap0, stack0 := testutil.InUse()
		for range b.N {
			w := &countingWriter{h: http.Header{}, total: &total, want: &want, reach: reach}
			req := httptest.NewRequest("GET", "/?topic=idle", nil).WithContext(ctx)
			wg.Go(func() { br.ServeHTTP(w, req) })
		}
		waitfor.Cond(b, "every stream to open", 30*time.Second, func() bool { return br.Stats().Clients == b.N })
		heap1, stack1 := testutil.InUse()
		b.ReportMetric(float64(heap1-heap0+stack1-stack0)/float64(b.N), "handler-B/stream")
		b.ReportMetric(float64(stack1-stack0)/float64(b.N), "stack-B/stream")
		cancel()
		wg.Wait()
		br.Shutdown(context.Background())
	})
}

// benchIdleTCP holds b.N idle streams over 127.0.0.1, served in their
// handlers or, with takeOver, taken over from net/http.
func benchIdleTCP(b *testing.B, takeOver bool) {
	br := NewBroker(BrokerOptions{TakeOver: takeOver})
	ts := httptest.NewServer(br)
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	heap0, stack0 := testutil.InUse()
	conns := make([]any, 0, b.N)
	for range b.N {
		conn, _ := rawStream(b, addr, "/?topic=idle")
		conns = append(conns, conn)
	}
	waitfor.Cond(b, "every stream to open", 30*time.Second, func() bool { return br.Stats().Clients == b.N })
	heap1, stack1 := testutil.InUse()
	b.ReportMetric(float64(heap1-heap0+stack1-stack0)/float64(b.N), "B/stream")
	b.ReportMetric(float64(stack1-stack0)/float64(b.N), "stack-B/stream")
	runtime.KeepAlive(conns)
	br.Shutdown(context.Background())
}

// BenchmarkBrokerFanoutTCP publishes one event to 1,000 streams over real
// 127.0.0.1 connections (HTTP/1.1, taken over) and waits until the clients
// have read it from every one. "raw" is the reference measured in the same
// run: a loop that writes the same bytes to 1,000 accepted sockets and
// nothing else.
func BenchmarkBrokerFanoutTCP(b *testing.B) {
	const n = 1000
	ev := Event{Data: `{"sym":"ACME","price":12.5}`}
	// read counts what the clients read and signals when want is reached.
	var total, want atomic.Int64
	reach := make(chan struct{}, 1)
	read := func(r io.Reader) {
		buf := make([]byte, 4096)
		for {
			k, err := r.Read(buf)
			if total.Add(int64(k)) >= want.Load() {
				select {
				case reach <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}
	run := func(b *testing.B, publish func(i int)) {
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			publish(i)
			for total.Load() < want.Load() {
				<-reach
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "deliveries/s")
	}

	b.Run("broker", func(b *testing.B) {
		total.Store(0)
		want.Store(1 << 62)
		br := NewBroker(BrokerOptions{Heartbeat: -1, Retry: -1})
		ts := httptest.NewServer(br)
		defer ts.Close()
		var conns []net.Conn
		for range n {
			conn, r := rawStream(b, ts.Listener.Addr().String(), "/?topic=prices")
			conns = append(conns, conn)
			go read(r)
		}
		waitfor.Cond(b, "every stream to open", 30*time.Second, func() bool { return br.Stats().Clients == n })
		run(b, func(i int) {
			size, _ := eventLen(Event{ID: fmt.Sprintf("%s-%d", br.hub.Epoch(), i+1), Data: ev.Data})
			want.Store(total.Load() + int64(size*n))
			if _, err := br.Publish("prices", ev); err != nil {
				b.Fatal(err)
			}
		})
		br.Shutdown(context.Background())
		for _, c := range conns {
			c.Close()
		}
	})

	b.Run("raw", func(b *testing.B) {
		total.Store(0)
		want.Store(1 << 62)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		var server, client []net.Conn
		for range n {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			s, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			client, server = append(client, c), append(server, s)
			go read(c)
		}
		run(b, func(i int) {
			p, _ := encodeEvent(nil, Event{ID: fmt.Sprintf("raw-%d", i+1), Data: ev.Data})
			want.Store(total.Load() + int64(len(p)*n))
			for _, s := range server {
				s.Write(p)
			}
		})
		for i := range server {
			server[i].Close()
			client[i].Close()
		}
	})
}
