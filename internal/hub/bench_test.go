package hub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkFanOut publishes to one topic followed by n subscribers, each
// drained by a writer goroutine started on demand, as the packages do, and
// reports deliveries per second.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h, _ := New(Options{HistorySize: -1, MaxSubscribers: n})
			var delivered atomic.Int64
			want := int64(b.N) * int64(n)
			all := make(chan struct{})
			var writers sync.WaitGroup
			for range n {
				s, err := h.Subscribe(context.Background(), []string{"t"}, "")
				if err != nil {
					b.Fatal(err)
				}
				w := &benchWriter{s: s, delivered: &delivered, want: want, all: all, wg: &writers}
				s.Notify(w.wake)
			}
			payload := make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				h.Publish("t", func(string) []byte { return payload })
			}
			<-all
			b.StopTimer()
			b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
			h.Close()
			writers.Wait()
		})
	}
}

// benchWriter runs a goroutine only while its subscriber has messages.
type benchWriter struct {
	s         *Subscriber
	delivered *atomic.Int64
	want      int64
	all       chan struct{}
	wg        *sync.WaitGroup
	mu        sync.Mutex
	running   bool
	again     bool
	buf       []*Message
}

func (w *benchWriter) wake() {
	w.mu.Lock()
	w.again = true
	if w.running {
		w.mu.Unlock()
		return
	}
	w.running = true
	w.mu.Unlock()
	w.wg.Go(w.run)
}

func (w *benchWriter) run() {
	for {
		w.mu.Lock()
		if !w.again {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.again = false
		w.mu.Unlock()
		for {
			w.buf, _ = w.s.Take(w.buf)
			if len(w.buf) == 0 {
				break
			}
			if w.delivered.Add(int64(len(w.buf))) == w.want {
				close(w.all)
			}
		}
	}
}
