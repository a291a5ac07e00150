package servers

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/realtime-go/realtime/internal/bench/wire"
)

// Stats is what a server process reports about itself.
type Stats struct {
	Subscribers int    `json:"subs"`
	RSS         uint64 `json:"rss"`        // resident set, bytes, from /proc/self/status VmRSS
	HeapInuse   uint64 `json:"heapInuse"`  // runtime.MemStats.HeapInuse after a GC when asked
	StackInuse  uint64 `json:"stackInuse"` // runtime.MemStats.StackInuse
	Sys         uint64 `json:"sys"`        // runtime.MemStats.Sys
	Goroutines  int    `json:"goroutines"`
	Writes      uint64 `json:"writes"` // write system calls so far, from /proc/self/io syscw

	// The Go heap from runtime/metrics, sampled every heapSampleEvery
	// since the process started or the last stats?reset=1: the live heap
	// as of the last collection (now, and its peak) and the peak of the
	// heap's objects, live or not yet collected.
	HeapLive     uint64 `json:"heapLive"`
	PeakHeapLive uint64 `json:"peakHeapLive"`
	PeakHeapObjs uint64 `json:"peakHeapObjs"`
}

// PublishResult is the answer to a publish request.
type PublishResult struct {
	From    uint64 `json:"from"`    // sequence of the first message
	Count   uint64 `json:"count"`   // messages published
	FirstNs int64  `json:"firstNs"` // unix ns when the first was stamped
	LastNs  int64  `json:"lastNs"`  // unix ns when the last Publish returned
	Err     string `json:"err,omitempty"`
}

// RaiseFileLimit raises the soft limit of open files to the hard limit.
func RaiseFileLimit() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	l.Cur = l.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// ReadRSS returns the resident set of process pid (0: this one) in bytes.
func ReadRSS(pid int) (uint64, error) {
	p := "/proc/self/status"
	if pid > 0 {
		p = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseUint(string(f[0]), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("servers: no VmRSS in %s", p)
}

// Serve runs library name as a server process: subscribers on one
// listener, the control endpoints (publish, stats, pprof) on another, both
// on 127.0.0.1. It writes "READY <data addr> <control addr>" to out once
// both listen, and returns when in reaches end of file (the parent went
// away or closed it).
//
// With BENCH_MEMPROFILERATE set in the environment, it is used as
// runtime.MemProfileRate (1 records every allocation, for exact heap
// profiles); with BENCH_MUTEXPROFILEFRACTION, as the mutex profile's
// fraction (runtime.SetMutexProfileFraction; 1 records every contended
// lock).
func Serve(name string, opts Options, in io.Reader, out io.Writer) error {
	if v, err := strconv.Atoi(os.Getenv("BENCH_MEMPROFILERATE")); err == nil && v > 0 {
		runtime.MemProfileRate = v
	}
	if v, err := strconv.Atoi(os.Getenv("BENCH_MUTEXPROFILEFRACTION")); err == nil && v > 0 {
		runtime.SetMutexProfileFraction(v)
	}
	RaiseFileLimit()
	lib, err := Lookup(name)
	if err != nil {
		return err
	}
	srv, err := lib.New(opts)
	if err != nil {
		return err
	}
	data, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if opts.TLS {
		if data, err = tlsListener(data); err != nil {
			return err
		}
	}
	go srv.Serve(data)
	c := &control{srv: srv}
	go c.heap.sample()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish", c.publish)
	mux.HandleFunc("GET /stats", c.stats)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go http.Serve(ctl, mux)
	fmt.Fprintf(out, "READY %s %s\n", data.Addr(), ctl.Addr())
	io.Copy(io.Discard, bufio.NewReader(in))
	ctl.Close()
	return srv.Close()
}

// readWrites returns this process's count of write system calls, or 0 when
// /proc does not say.
func readWrites() uint64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("syscw:")); ok {
			n, _ := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
			return n
		}
	}
	return 0
}

type control struct {
	srv  Server
	heap heapPeaks

	mu     sync.Mutex
	topics map[string]*topicSeq // "" is Publish's topic
}

// topicSeq numbers one topic's messages.
type topicSeq struct {
	mu  sync.Mutex // one publish to the topic at a time, so sequences are contiguous
	seq uint64
}

// topic returns the numbering of topic, "" for Server.Publish.
func (c *control) topic(name string) *topicSeq {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.topics == nil {
		c.topics = make(map[string]*topicSeq)
	}
	t := c.topics[name]
	if t == nil {
		t = new(topicSeq)
		c.topics[name] = t
	}
	return t
}

// publish sends n messages (default 1), interval apart (default none),
// each of wire.PayloadSize bytes or, with size, padded with dots to size,
// each stamped with the next sequence and a time: with no interval, when it
// is handed to the library; with one, when it was due, so that a library
// that makes the publisher wait shows the lag in its latency instead of
// hiding it. With topic set, it publishes to that topic (the server must
// be a TopicServer), numbered apart from the others; publishes to
// different topics run at the same time. A Batcher is told that a batch
// ended after each message when they are paced, else after the last.
func (c *control) publish(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.ParseUint(r.FormValue("n"), 10, 64)
	if n == 0 {
		n = 1
	}
	interval, _ := time.ParseDuration(r.FormValue("interval"))
	topic := r.FormValue("topic")
	size, _ := strconv.Atoi(r.FormValue("size"))
	pub := c.srv.Publish
	if topic != "" {
		ts, ok := c.srv.(TopicServer)
		if !ok {
			json.NewEncoder(w).Encode(PublishResult{Err: "servers: this server has no topics"})
			return
		}
		pub = func(msg []byte) error { return ts.PublishTopic(topic, msg) }
	}
	endBatch := func() {}
	if b, ok := c.srv.(Batcher); ok {
		name := cmp.Or(topic, "bench")
		endBatch = func() { b.EndBatch(name) }
	}
	t := c.topic(topic)
	t.mu.Lock()
	res := PublishResult{From: t.seq + 1}
	start := time.Now()
	for i := range n {
		stamp := time.Now()
		if interval > 0 {
			due := start.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			stamp = due
		}
		t.seq++
		if i == 0 {
			res.FirstNs = stamp.UnixNano()
		}
		msg := wire.Payload(make([]byte, max(size, wire.PayloadSize)), t.seq, stamp.UnixNano())
		for i := wire.PayloadSize; i < size; i++ {
			msg = append(msg, '.')
		}
		if err := pub(msg); err != nil && res.Err == "" {
			res.Err = err.Error()
		}
		res.Count++
		if interval > 0 {
			endBatch()
		}
	}
	if interval <= 0 {
		endBatch()
	}
	res.LastNs = time.Now().UnixNano()
	t.mu.Unlock()
	json.NewEncoder(w).Encode(res)
}

// stats reports memory and subscribers; with gc=1 it collects garbage
// after reading the resident set and before reading the heap; with
// reset=1 the heap's peaks start again from now, after that.
func (c *control) stats(w http.ResponseWriter, r *http.Request) {
	var st Stats
	defer func() {
		st.HeapLive, st.PeakHeapLive, st.PeakHeapObjs = c.heap.read(r.FormValue("reset") == "1")
		json.NewEncoder(w).Encode(st)
	}()
	st.Subscribers = c.srv.Subscribers()
	st.RSS, _ = ReadRSS(0)
	if r.FormValue("gc") == "1" {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.HeapInuse, st.StackInuse, st.Sys = ms.HeapInuse, ms.StackInuse, ms.Sys
	st.Goroutines = runtime.NumGoroutine()
	st.Writes = readWrites()
}

// heapSampleEvery is how often a server process samples its heap.
const heapSampleEvery = 2 * time.Millisecond

// heapPeaks follows the Go heap of this process.
type heapPeaks struct {
	mu       sync.Mutex
	live     uint64 // as of the last collection
	peakLive uint64
	peakObjs uint64
}

// sample reads the heap every heapSampleEvery, for the life of the
// process.
func (h *heapPeaks) sample() {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	for {
		metrics.Read(m)
		live, objs := m[0].Value.Uint64(), m[1].Value.Uint64()
		h.mu.Lock()
		h.live = live
		h.peakLive = max(h.peakLive, live)
		h.peakObjs = max(h.peakObjs, objs)
		h.mu.Unlock()
		time.Sleep(heapSampleEvery)
	}
}

// read returns the live heap and the peaks; with reset, the peaks start
// again from the live heap now.
func (h *heapPeaks) read(reset bool) (live, peakLive, peakObjs uint64) {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live = m[0].Value.Uint64()
	h.peakLive = max(h.peakLive, h.live)
	live, peakLive, peakObjs = h.live, h.peakLive, h.peakObjs
	if reset {
		h.peakLive, h.peakObjs = h.live, h.live
	}
	return live, peakLive, peakObjs
}
