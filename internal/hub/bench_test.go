package hub

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// BenchmarkPublishParallel publishes from 1, 4 and 16 goroutines, each to
// its own topic, and reports publishes per second: what a second core
// adds to publishers that share nothing but the hub. (Run it with -cpu 1,2
// to compare.) Each topic's log is kept, at its default bound.
//
// The floor does the same work per message with nothing shared: the time,
// the ID, the message, and the append to a log of its own under a lock of
// its own. On a loaded machine, compare the ratio of 4 publishers to one
// with the floor's in the same run: it says how much of a second core the
// machine gave.
func BenchmarkPublishParallel(b *testing.B) {
	for _, publishers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("floor/publishers=%d", publishers), func(b *testing.B) {
			payload := make([]byte, 64)
			l := limits{bytes: DefaultHistoryBytes, age: DefaultHistoryAge}
			b.ReportAllocs()
			var wg sync.WaitGroup
			for i := range publishers {
				n := b.N / publishers
				if i < b.N%publishers {
					n++
				}
				wg.Go(func() {
					t := &topic{name: fmt.Sprint(i)}
					for seq := range uint64(n) {
						id := FormatID("E", seq)
						m := &Message{Seq: seq, ID: id, Topic: t.name, Time: time.Now(), Data: payload}
						t.mu.Lock()
						t.append(m, &l)
						t.mu.Unlock()
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
		})
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			h, _ := New(Options{})
			defer h.Close()
			payload := make([]byte, 64)
			encode := func(string) []byte { return payload }
			topics := make([]string, publishers)
			for i := range topics {
				topics[i] = fmt.Sprintf("topic-%d", i)
				h.Publish(topics[i], encode) // made before the clock starts
			}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, topic := range topics {
				n := b.N / publishers
				if i < b.N%publishers {
					n++
				}
				wg.Go(func() {
					for range n {
						if _, err := h.Publish(topic, encode); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
		})
	}
}

// BenchmarkPublishBesideFanOut times Publish to a topic with one subscriber
// while another goroutine publishes without pause to a topic followed by
// 10,000 subscribers, whose writers take every core they can; it reports
// the median and 99th percentile of a Publish call.
func BenchmarkPublishBesideFanOut(b *testing.B) {
	const fans = 10_000
	h, _ := New(Options{HistorySize: -1, MaxSubscribers: fans + 1})
	var delivered atomic.Int64
	never := make(chan struct{})
	var writers sync.WaitGroup
	for range fans {
		s, err := h.Subscribe(context.Background(), []string{"fan"}, "")
		if err != nil {
			b.Fatal(err)
		}
		w := &benchWriter{s: s, delivered: &delivered, want: -1, all: never, wg: &writers}
		s.Notify(w.wake)
	}
	one, err := h.Subscribe(context.Background(), []string{"one"}, "")
	if err != nil {
		b.Fatal(err)
	}
	ow := &benchWriter{s: one, delivered: new(atomic.Int64), want: -1, all: never, wg: &writers}
	one.Notify(ow.wake)
	payload := make([]byte, 64)
	encode := func(string) []byte { return payload }
	stop := make(chan struct{})
	fanning := make(chan struct{})
	go func() {
		defer close(fanning)
		for {
			select {
			case <-stop:
				return
			default:
			}
			h.Publish("fan", encode)
		}
	}()
	samples := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := h.Publish("one", encode); err != nil {
			b.Fatal(err)
		}
		samples[i] = time.Since(start)
		runtime.Gosched()
	}
	b.StopTimer()
	close(stop)
	<-fanning
	h.Close()
	writers.Wait()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds())/1e3, "p50-us")
	b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds())/1e3, "p99-us")
	b.ReportMetric(float64(delivered.Load())/b.Elapsed().Seconds(), "fan-deliveries/s")
}

// BenchmarkFilteredAppliers applies a stream to a filtered hub with 1, 2
// and 4 appliers side by side, each owning its share of 64 topics (one
// subscriber each, which takes nothing: the logs keep HistoryBytes), as a
// cluster node's shards do. Each applier records how far it got; every 64
// messages it moves the watermark to the lowest of those, with SkipTo. It
// reports stream messages applied per second.
func BenchmarkFilteredAppliers(b *testing.B) {
	for _, appliers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("appliers=%d", appliers), func(b *testing.B) {
			h, _ := New(Options{Epoch: "E", Filtered: true})
			defer h.Close()
			topics := make([]string, 64)
			for i := range topics {
				topics[i] = fmt.Sprintf("t%02d", i)
				if _, err := h.Subscribe(context.Background(), topics[i:i+1], ""); err != nil {
					b.Fatal(err)
				}
			}
			data := make([]byte, 100)
			// next[k]: the lowest number applier k has not applied yet.
			next := make([]atomic.Uint64, appliers)
			watermark := func() uint64 {
				w := next[0].Load()
				for k := range next {
					w = min(w, next[k].Load())
				}
				return w - 1
			}
			n := uint64(b.N)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for k := range appliers {
				next[k].Store(uint64(k) + 1)
				wg.Go(func() {
					for seq := uint64(k) + 1; seq <= n; seq += uint64(appliers) {
						topic := topics[(int(seq)%16)*4+k%4] // a topic is always the same applier's
						if _, err := h.PublishAt(seq, topic, func(string) []byte { return data }); err != nil {
							b.Error(err)
							return
						}
						next[k].Store(seq + uint64(appliers))
						if seq%64 == 0 {
							h.SkipTo(watermark())
						}
					}
				})
			}
			wg.Wait()
			h.SkipTo(n)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
