package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtime-go/realtime/internal/waitfor"
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

// BenchmarkNodeCPU measures what each node process and the NATS server
// spend per message of the stream, with rooms spread over the nodes: 100
// topics, each node's clients (cpuClientsPerTopic SSE streams per topic)
// following a tenth of them, cpuMessages messages published to JetStream
// from this process over all the topics. It compares nodes that apply the
// whole stream with -filtered nodes, which apply their clients' topics
// only, for 1, 3 and 10 node processes, in one run; filtered nodes whose
// consumer has one subject: 10 topics, one per node (a tenth of the stream
// each still), against ten subjects each; filtered nodes with five times
// the clients (1 and 3 nodes), for what a delivery costs; and both designs
// on a NATS cluster of three servers (nats3), the stream with three
// replicas and the nodes spread over the servers:
//
//	go test -run '^$' -bench NodeCPU -benchtime 1x
//
// The nodes and the NATS server are processes of their own (this binary
// run again); the publisher and the clients run in the benchmark's. CPU
// is each process's utime+stime, from /proc. Reported: us-cpu/node/msg
// (per message of the stream, the mean of the nodes), us-cpu/delivery
// (the nodes' CPU over the deliveries they made: all of it, the fixed
// part included), node-sat-msg/s (the stream's rate at which a node
// would use one core), nats-us-cpu/msg (the NATS servers' CPU, all of
// them) and nats-sat-msg/s (the rate at which the busiest would use one
// core), msg/s (the stream's rate this run reached, on this machine),
// max-rss-MiB (the peak resident memory of the largest node) and
// nats-rss-MiB (of the largest NATS server).
func BenchmarkNodeCPU(b *testing.B) {
	const (
		cpuClientsPerTopic = 5
		cpuMessages        = 100000
	)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	for _, nodes := range []int{1, 3, 10} {
		for _, mode := range []struct {
			name    string
			flags   []string
			topics  int
			servers int // NATS servers: 3 is a cluster, with a stream of 3 replicas
			clients int // per topic; 0: cpuClientsPerTopic
		}{
			{"whole-stream", nil, 100, 1, 0},
			{"filtered", []string{"-filtered"}, 100, 1, 0},
			{"filtered-1-topic", []string{"-filtered"}, 10, 1, 0},
			{"filtered-5x-clients", []string{"-filtered"}, 100, 1, 5 * cpuClientsPerTopic},
			{"whole-stream-nats3", []string{"-replicas", "3"}, 100, 3, 0},
			{"filtered-nats3", []string{"-filtered", "-replicas", "3"}, 100, 3, 0},
		} {
			cpuTopics := mode.topics
			cpuClientsPerTopic := cpuClientsPerTopic
			if mode.clients > 0 {
				if nodes > 3 {
					continue // as many streams as the benchmark's process can read
				}
				cpuClientsPerTopic = mode.clients
			}
			b.Run(fmt.Sprintf("nodes=%d/%s", nodes, mode.name), func(b *testing.B) {
				servers := []*nodeProc{}
				if mode.servers == 1 {
					servers = append(servers, startNATSProc(b))
				} else {
					servers = startNATSCluster(b, mode.servers)
				}
				var procs []*nodeProc
				for i := range nodes { // node i on server i (mod their number)
					procs = append(procs, startNodeProc(b, fmt.Sprint("n", i), servers[i%len(servers)].url, mode.flags...))
				}
				nc, err := nats.Connect(servers[0].url)
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				js, err := jetstream.New(nc)
				if err != nil {
					b.Fatal(err)
				}
				subj := newSubjects(testStream)
				topic := func(i int) string { return fmt.Sprintf("room-%d", i) }
				// Node i serves a tenth of the topics, from i*cpuTopics/10.
				var delivered atomic.Int64
				all := make(chan struct{})
				want := int64(nodes * cpuTopics / 10 * cpuClientsPerTopic * cpuMessages / cpuTopics * b.N)
				client := &sse.Client{HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}}}
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				b.Cleanup(func() { cancel(); wg.Wait() })
				for i, p := range procs {
					for k := range cpuTopics / 10 {
						for range cpuClientsPerTopic {
							st, err := client.Subscribe(ctx, p.url+"/events?topic="+topic((i*cpuTopics/10+k)%cpuTopics), "")
							if err != nil {
								b.Fatal(err)
							}
							wg.Go(func() {
								defer st.Close()
								for {
									if _, err := st.Next(); err != nil {
										return
									}
									if delivered.Add(1) == want {
										close(all)
									}
								}
							})
						}
					}
				}
				before := make([]time.Duration, len(procs))
				for i, p := range procs {
					before[i] = procCPU(b, p.cmd.Process.Pid)
				}
				natsBefore := make([]time.Duration, len(servers))
				for i, s := range servers {
					natsBefore[i] = procCPU(b, s.cmd.Process.Pid)
				}
				b.ResetTimer()
				publishAsync(b, js, subj, b.N*cpuMessages, cpuTopics, true)
				select {
				case <-all:
				case <-time.After(2 * waitTimeout):
					b.Fatalf("delivered %d of %d", delivered.Load(), want)
				}
				b.StopTimer()
				var cpu time.Duration
				var rss int64
				for i, p := range procs {
					cpu += procCPU(b, p.cmd.Process.Pid) - before[i]
					rss = max(rss, procHWM(b, p.cmd.Process.Pid))
				}
				var natsCPU, natsBusiest time.Duration
				var natsRSS int64
				for i, s := range servers {
					c := procCPU(b, s.cmd.Process.Pid) - natsBefore[i]
					natsCPU += c
					natsBusiest = max(natsBusiest, c)
					natsRSS = max(natsRSS, procHWM(b, s.cmd.Process.Pid))
				}
				msgs := float64(b.N * cpuMessages)
				perMsg := float64(cpu.Microseconds()) / float64(len(procs)) / msgs
				natsPerMsg := float64(natsCPU.Microseconds()) / msgs
				b.ReportMetric(perMsg, "us-cpu/node/msg")
				b.ReportMetric(float64(cpu.Microseconds())/float64(want), "us-cpu/delivery")
				b.ReportMetric(float64(want)/float64(len(procs))/msgs, "deliveries/node/msg")
				b.ReportMetric(1e6/perMsg, "node-sat-msg/s")
				b.ReportMetric(natsPerMsg, "nats-us-cpu/msg")
				b.ReportMetric(1e6/(float64(natsBusiest.Microseconds())/msgs), "nats-sat-msg/s")
				b.ReportMetric(msgs/b.Elapsed().Seconds(), "msg/s")
				b.ReportMetric(float64(rss)/(1<<20), "max-rss-MiB")
				b.ReportMetric(float64(natsRSS)/(1<<20), "nats-rss-MiB")
			})
		}
	}
}

// procCPU returns the CPU time (user and system) process pid has used.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command, which is in parentheses.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// procHWM returns the peak resident memory of process pid, in bytes.
func procHWM(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkFirstJoin measures what a client costs a filtered node when it
// is the first there of its topic (the node makes its consumer again,
// with the topic added: two JetStream requests) against a client of a
// topic the node applies already, while the stream carries a steady
// flow over the topics applied. applied is how many topics the node's
// consumer takes (the subjects each new consumer lists). Run it once:
//
//	go test -run '^$' -bench FirstJoin -benchtime 200x
func BenchmarkFirstJoin(b *testing.B) {
	for _, applied := range []int{10, 100} {
		for _, first := range []bool{true, false} {
			name := fmt.Sprintf("applied=%d/applied-topic", applied)
			if first {
				name = fmt.Sprintf("applied=%d/new-topic", applied)
			}
			b.Run(name, func(b *testing.B) { benchFirstJoin(b, applied, first) })
		}
	}
}

func benchFirstJoin(b *testing.B, applied int, first bool) {
	ns := startNATS(b)
	n := startTestNode(b, "n", ns.url(), func(o *nodeOptions) {
		o.Filtered = true
		o.MaxTopics = applied + b.N + 1
	})
	client := &sse.Client{HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: applied + 1}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topic := func(i int) string { return fmt.Sprintf("room-%d", i) }
	for i := range applied { // one client per topic, held to the end
		st, err := client.Subscribe(ctx, n.url+"/events?topic="+topic(i), "")
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
	}
	// A steady flow: a message every millisecond over the applied topics.
	js := ns.connect(b)
	subj := newSubjects(testStream)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			js.PublishMsgAsync(subj.natsMsg(record{topic: topic(i % applied), data: "x"}, ""))
		}
	})
	cpu0 := processCPU(b)
	b.ResetTimer()
	for i := range b.N {
		t := topic(i % applied)
		if first {
			t = fmt.Sprintf("new-%d", i)
		}
		st, err := client.Subscribe(ctx, n.url+"/events?topic="+t, "")
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/join")
	// The node, NATS, the flow and the client share this process: what
	// a join adds to it, the flow's own cost included.
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/join")
}

// processCPU returns the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	return procCPU(b, os.Getpid())
}

// BenchmarkFilteredApply measures how many messages per second one
// filtered node applies, with one worker and with defaultApplyWorkers
// (GOMAXPROCS), in one run: applyMessages messages over 8 or 64 topics,
// each followed by one local SSE client, stored in JetStream
// while the node holds its workers back (its consumer fetches meanwhile,
// up to its bounds), then applied as fast as the node goes. Reported:
// msg/s (the stream's messages applied and readable per second, the
// watermark's pace), delivered-msg/s (until the clients received them
// all) and us-cpu/msg (this process's CPU over the messages, from
// /proc). The node, the NATS server and the clients share this process:
//
//	go test -run '^$' -bench FilteredApply -benchtime 1x
//	go test -run '^$' -bench FilteredApply -benchtime 1x -apply-cpuprofile cpu.out
//	go tool pprof -top cpu.out.topics=64.workers=2
//
// -apply-cpuprofile profiles the applying only, not the publishing before
// it, into one file per sub-benchmark.
func BenchmarkFilteredApply(b *testing.B) {
	const applyMessages = 100000
	counts := []int{1}
	if w := defaultApplyWorkers(); w > 1 {
		counts = append(counts, w)
	}
	for _, applyTopics := range []int{8, 64} {
		for _, workers := range counts {
			name := fmt.Sprintf("topics=%d/workers=%d", applyTopics, workers)
			b.Run(name, func(b *testing.B) { benchFilteredApply(b, applyTopics, workers, applyMessages) })
		}
	}
}

func benchFilteredApply(b *testing.B, applyTopics, workers, applyMessages int) {
	ns := startNATS(b)
	release := make(chan struct{})
	n := startTestNode(b, "n", ns.url(), func(o *nodeOptions) {
		o.Filtered, o.applyWorkers = true, workers
		o.applyGate = func(ctx context.Context, _ uint64) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	topic := func(i int) string { return fmt.Sprintf("room-%d", i) }
	msgs := applyMessages * b.N
	var delivered atomic.Int64
	all := make(chan struct{})
	client := &sse.Client{HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: applyTopics}}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	for i := range applyTopics {
		// Answered once the node applies the topic.
		st, err := client.Subscribe(ctx, n.url+"/events?topic="+topic(i), "")
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer st.Close()
			for {
				if _, err := st.Next(); err != nil {
					return
				}
				if delivered.Add(1) == int64(msgs) {
					close(all)
				}
			}
		})
	}
	js := ns.connect(b)
	subj := newSubjects(testStream)
	publishAsync(b, js, subj, msgs, applyTopics, false)
	info, err := n.stream.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	last := info.State.LastSeq
	if *applyProfile != "" {
		stop := startProfile(b, fmt.Sprintf("%s.topics=%d.workers=%d", *applyProfile, applyTopics, workers))
		defer stop()
	}
	cpu0 := processCPU(b)
	b.ResetTimer()
	start := time.Now()
	close(release)
	waitfor.Cond(b, fmt.Sprintf("the node to apply %d messages", last), 2*waitTimeout, func() bool { return n.applied.Load() >= last })
	applied := time.Since(start) // a metric: the rate of applying
	select {
	case <-all:
	case <-time.After(2 * waitTimeout):
		b.Fatalf("delivered %d of %d", delivered.Load(), msgs)
	}
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	b.ReportMetric(float64(msgs)/applied.Seconds(), "msg/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(msgs), "us-cpu/msg")
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "delivered-msg/s")
}

// applyProfile is where BenchmarkFilteredApply writes a CPU profile of
// the applying alone.
var applyProfile = flag.String("apply-cpuprofile", "", "BenchmarkFilteredApply: write a CPU profile of the applying to `file`.topics=T.workers=N")

// startProfile starts a CPU profile into path and returns what stops it.
func startProfile(b *testing.B, path string) func() {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// publishAsync publishes n messages of "x" to JetStream over topics
// topics, in turn (with a message ID each if ids), and waits for their
// acknowledgements.
func publishAsync(b *testing.B, js jetstream.JetStream, subj subjects, n, topics int, ids bool) {
	b.Helper()
	for i := range n {
		id := ""
		if ids {
			id = strconv.Itoa(i + 1)
		}
		_, err := js.PublishMsgAsync(subj.natsMsg(record{topic: fmt.Sprintf("room-%d", i%topics), data: "x"}, id),
			jetstream.WithStallWait(DefaultPublishTimeout))
		if err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(waitTimeout):
		b.Fatal("publishes not acknowledged")
	}
}
