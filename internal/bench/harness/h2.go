package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// H2StreamsPerConn is how many SSE streams the HTTP/2 load client opens on
// one connection, as a browser does with one origin's tabs (within the
// 250 concurrent streams net/http's server allows by default).
const H2StreamsPerConn = 100

// H2Result is one library's HTTP/2 run at one number of streams.
type H2Result struct {
	Lib     string
	Streams int
	RSS     float64 // bytes per idle stream, server VmRSS after less before
	Heap    float64 // Go heap plus stacks per idle stream, after a GC
	Rate    float64 // fan-out deliveries/s
	Err     string
}

// RunH2 measures, for each library (ours-sse and handler-sse: the ones
// served by net/http) and each number of streams, the idle cost per
// stream and the fan-out over HTTP/2 with TLS on 127.0.0.1: the server
// process serves with a certificate it makes (-tls), and this process
// opens the streams, H2StreamsPerConn to a connection, with
// net/http's client (HTTP/2 over TLS), then has the server publish c.Bursts
// bursts of c.BurstSize messages, each awaited on every stream.
// Deliveries/s is every delivery over the sum of (last receive - first
// publish) per burst.
func RunH2(c Config, streams []int) ([]H2Result, error) {
	c.fill()
	cts, err := contenders(c)
	if err != nil {
		return nil, err
	}
	var out []H2Result
	for round := 1; round <= c.Rounds; round++ {
		for _, n := range streams {
			for _, ct := range cts {
				r := runH2(c, ct, n)
				fmt.Fprintf(c.Log, "round %d h2 %-18s %6d streams: RSS %.1f KiB/stream, heap+stacks %.1f KiB/stream, %.0f deliveries/s %s\n",
					round, ct.Name, n, r.RSS/1024, r.Heap/1024, r.Rate, r.Err)
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// h2Stream is one stream's count of messages.
type h2Stream struct {
	got  atomic.Int64
	last atomic.Int64 // unix ns of the last message
}

func runH2(c Config, ct contender, n int) (res H2Result) {
	res = H2Result{Lib: ct.Name, Streams: n}
	srv, err := startServer(ct, 0, "-tls")
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer srv.stop()
	before, err := srv.stats(true)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		wg      sync.WaitGroup
		ss      = make([]*h2Stream, n)
		mu      sync.Mutex
		firstEr error
		clients []*http.Transport
	)
	defer func() {
		cancel()
		wg.Wait()
		for _, t := range clients {
			t.CloseIdleConnections()
		}
	}()
	url := "https://" + srv.data + ct.TopicPath("bench")
	var tr *http.Transport
	for i := range n {
		if i%H2StreamsPerConn == 0 {
			// One transport, so one connection, per H2StreamsPerConn
			// streams; the server's own certificate, made at its start.
			tr = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
			clients = append(clients, tr)
		}
		ss[i] = new(h2Stream)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := tr.RoundTrip(req)
		if err == nil && (resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2) {
			err = fmt.Errorf("status %s over %s, want 200 over HTTP/2", resp.Status, resp.Proto)
			resp.Body.Close()
		}
		if err != nil {
			res.Err = fmt.Sprintf("stream %d: %v", i, err)
			return res
		}
		wg.Add(1)
		go func(s *h2Stream, body io.ReadCloser) {
			defer wg.Done()
			defer body.Close()
			br := bufio.NewReaderSize(body, 4096)
			for {
				line, err := br.ReadSlice('\n')
				if bytes.HasPrefix(line, []byte("data:")) {
					s.got.Add(1)
					s.last.Store(time.Now().UnixNano())
				}
				if err != nil && err != bufio.ErrBufferFull {
					if ctx.Err() == nil {
						mu.Lock()
						if firstEr == nil {
							firstEr = err
						}
						mu.Unlock()
					}
					return
				}
			}
		}(ss[i], resp.Body)
	}
	if _, err := srv.waitSubs(n, c.Wait); err != nil {
		res.Err = err.Error()
		return res
	}
	idle, err := srv.stats(false)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.RSS = (float64(idle.RSS) - float64(before.RSS)) / float64(n)
	if gc, err := srv.stats(true); err == nil {
		res.Heap = (float64(gc.HeapInuse+gc.StackInuse) - float64(before.HeapInuse+before.StackInuse)) / float64(n)
	}
	var busy time.Duration
	want := int64(0)
	for range c.Bursts {
		want += int64(c.BurstSize)
		pub, err := srv.publish("", c.BurstSize, 0)
		if err != nil {
			res.Err = err.Error()
			return res
		}
		deadline := time.Now().Add(c.Wait)
		var last int64
		for _, s := range ss {
			for s.got.Load() < want {
				if time.Now().After(deadline) {
					res.Err = fmt.Sprintf("a stream got %d of %d messages within %v", s.got.Load(), want, c.Wait)
					return res
				}
				time.Sleep(time.Millisecond)
			}
			last = max(last, s.last.Load())
		}
		busy += time.Duration(last - pub.FirstNs)
	}
	mu.Lock()
	if firstEr != nil {
		res.Err = firstEr.Error()
	}
	mu.Unlock()
	res.Rate = float64(int64(n)*want) / busy.Seconds()
	return res
}

// WriteH2 writes the medians of the HTTP/2 runs as a table, each library's
// fan-out beside the handler floor's at the same number of streams.
func WriteH2(w io.Writer, rs []H2Result, c Config) {
	c.fill()
	type key struct {
		lib string
		n   int
	}
	rss, heap, rates := map[key][]float64{}, map[key][]float64{}, map[key][]float64{}
	var keys []key
	errs := map[key]string{}
	for _, r := range rs {
		k := key{r.Lib, r.Streams}
		if _, ok := rss[k]; !ok {
			keys = append(keys, k)
			rss[k] = nil
		}
		if r.Err != "" {
			errs[k] = r.Err
			continue
		}
		rss[k], heap[k], rates[k] = append(rss[k], r.RSS), append(heap[k], r.Heap), append(rates[k], r.Rate)
	}
	fmt.Fprintf(w, "\n### Server-Sent Events over HTTP/2 (TLS, %d streams per connection)\n\n", H2StreamsPerConn)
	fmt.Fprintln(w, "| library | streams | RSS KiB/stream | heap KiB/stream | fan-out deliveries/s | vs handler floor | error |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|---|")
	for _, k := range keys {
		floor := median(rates[key{"handler-sse", k.n}])
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s |\n", k.lib, k.n, kib(median(rss[k])), kib(median(heap[k])),
			rate(median(rates[k])), ratio(median(rates[k]), floor), errs[k])
	}
	fmt.Fprintf(w, "\nFan-out: %d bursts of %d messages, each awaited on every stream; medians over %d rounds.\n", c.Bursts, c.BurstSize, c.Rounds)
}
