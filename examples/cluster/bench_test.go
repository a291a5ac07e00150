package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtime-go/realtime/sse"
)

// The benchmarks compare one node publishing with Broker.Publish (no NATS)
// with nodes fed by JetStream, for the same subscribers: benchSubscribers
// SSE streams over loopback in all, spread over the nodes. Run them once:
//
//	go test -run '^$' -bench . -benchtime 1x
const (
	benchSubscribers = 300
	benchMessages    = 10000                // per BenchmarkDeliveries run
	benchRateEvery   = 2 * time.Millisecond // between publishes in BenchmarkLatency
	benchLatencyMsgs = 500
	benchTopic       = "bench"
)

// benchSetup is the nodes of one benchmark and how to publish to them.
type benchSetup struct {
	urls    []string
	publish func(data string) error // stores one message
	flush   func() error            // waits for what publish started
}

// direct is one Broker published to directly, served over loopback.
func directSetup(b *testing.B) benchSetup {
	br := sse.NewBroker(sse.BrokerOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: br}
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
		defer cancel()
		br.Shutdown(ctx)
		srv.Shutdown(ctx)
	})
	return benchSetup{
		urls:    []string{"http://" + ln.Addr().String()},
		publish: func(data string) error { _, err := br.Publish(benchTopic, sse.Event{Data: data}); return err },
		flush:   func() error { return nil },
	}
}

// jetStreamSetup is nodes nodes on one embedded NATS server; messages are
// published to JetStream from this process, asynchronously (acknowledged
// by flush), as many nodes' /publish handlers would.
func jetStreamSetup(b *testing.B, nodes int, async bool) benchSetup {
	ns := startNATS(b)
	var s benchSetup
	var first *testNode
	for i := range nodes {
		n := startTestNode(b, fmt.Sprint("n", i), ns.url(), nil)
		s.urls = append(s.urls, n.url)
		if first == nil {
			first = n
		}
	}
	js := first.js
	subj := first.subj
	var seq atomic.Uint64
	if async {
		s.publish = func(data string) error {
			_, err := js.PublishMsgAsync(subj.natsMsg(record{topic: benchTopic, data: data}, strconv.FormatUint(seq.Add(1), 10)),
				jetstream.WithStallWait(DefaultPublishTimeout)) // wait while 4,000 are unacknowledged
			return err
		}
		s.flush = func() error {
			select {
			case <-js.PublishAsyncComplete():
				return nil
			case <-time.After(waitTimeout):
				return fmt.Errorf("publishes not acknowledged within %v", waitTimeout)
			}
		}
	} else {
		s.publish = func(data string) error {
			ctx, cancel := context.WithTimeout(context.Background(), DefaultPublishTimeout)
			defer cancel()
			_, err := js.PublishMsg(ctx, subj.natsMsg(record{topic: benchTopic, data: data}, strconv.FormatUint(seq.Add(1), 10)))
			return err
		}
		s.flush = func() error { return nil }
	}
	return s
}

// benchClients opens benchSubscribers SSE streams over the nodes, each
// calling onEvent with every event's data, and returns once all are open.
func benchClients(b *testing.B, urls []string, subscribers int, onEvent func(data string, received time.Time)) {
	client := &sse.Client{HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: subscribers}}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	for i := range subscribers {
		st, err := client.Subscribe(ctx, urls[i%len(urls)]+"/events?topic="+benchTopic, "")
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer st.Close()
			for {
				e, err := st.Next()
				if err != nil {
					return
				}
				onEvent(e.Data, time.Now())
			}
		})
	}
}

// BenchmarkDeliveries measures deliveries per second: benchMessages
// messages published as fast as they go to benchSubscribers streams.
func BenchmarkDeliveries(b *testing.B) {
	for _, tc := range []struct {
		name  string
		setup func(*testing.B) benchSetup
	}{
		{"direct-1node", directSetup},
		{"jetstream-1node", func(b *testing.B) benchSetup { return jetStreamSetup(b, 1, true) }},
		{"jetstream-3nodes", func(b *testing.B) benchSetup { return jetStreamSetup(b, 3, true) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := tc.setup(b)
			var delivered atomic.Int64
			all := make(chan struct{})
			want := int64(benchSubscribers * benchMessages * b.N)
			benchClients(b, s.urls, benchSubscribers, func(string, time.Time) {
				if delivered.Add(1) == want {
					close(all)
				}
			})
			b.ResetTimer()
			start := time.Now()
			for range b.N * benchMessages {
				if err := s.publish("x"); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.flush(); err != nil {
				b.Fatal(err)
			}
			select {
			case <-all:
			case <-time.After(waitTimeout):
				b.Fatalf("delivered %d of %d within %v", delivered.Load(), want, waitTimeout)
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkLatency measures publish-to-receive latency at a steady rate
// (a message every benchRateEvery): the time from the call that publishes
// (Broker.Publish, or a JetStream publish) to each stream's receipt, with
// benchSubscribers streams (where fanning out dominates) and with one
// (where the JetStream hop shows).
func BenchmarkLatency(b *testing.B) {
	for _, subs := range []int{benchSubscribers, 1} {
		for _, tc := range []struct {
			name  string
			setup func(*testing.B) benchSetup
		}{
			{"direct-1node", directSetup},
			{"jetstream-1node", func(b *testing.B) benchSetup { return jetStreamSetup(b, 1, false) }},
			{"jetstream-3nodes", func(b *testing.B) benchSetup { return jetStreamSetup(b, 3, false) }},
		} {
			b.Run(fmt.Sprintf("subs=%d/%s", subs, tc.name), func(b *testing.B) { benchLatency(b, tc.setup(b), subs) })
		}
	}
}

func benchLatency(b *testing.B, s benchSetup, subs int) {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, subs*benchLatencyMsgs*b.N)
	all := make(chan struct{})
	want := subs * benchLatencyMsgs * b.N
	benchClients(b, s.urls, subs, func(data string, at time.Time) {
		ns, _ := strconv.ParseInt(data, 10, 64)
		mu.Lock()
		lat = append(lat, at.Sub(time.Unix(0, ns)))
		if len(lat) == want {
			close(all)
		}
		mu.Unlock()
	})
	b.ResetTimer()
	tick := time.NewTicker(benchRateEvery)
	defer tick.Stop()
	for range b.N * benchLatencyMsgs {
		<-tick.C
		if err := s.publish(strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(waitTimeout):
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("received %d of %d within %v", len(lat), want, waitTimeout)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
