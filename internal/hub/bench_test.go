package hub

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkFanOut publishes to one topic followed by n subscribers, each
// drained by its own writer goroutine, and reports deliveries per second.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := New(Options{QueueSize: 1 << 20, HistorySize: -1, MaxSubscribers: n})
			var delivered atomic.Int64
			want := int64(b.N) * int64(n)
			all := make(chan struct{})
			var wg sync.WaitGroup
			for range n {
				s, _, _, err := h.Subscribe([]string{"t"}, "")
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					var buf []*Message
					for {
						select {
						case <-s.Ready():
							buf = s.Take(buf)
							if len(buf) > 0 && delivered.Add(int64(len(buf))) == want {
								close(all)
							}
						case <-s.Done():
							return
						}
					}
				})
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
			wg.Wait()
		})
	}
}
