package reliability

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load test's clients live in a child process: this test binary, run
// again with these environment variables. It speaks with its parent by
// lines: it prints "connected" once every client is connected, reads
// "expect M" once M messages were published to every topic, prints
// "summary " and a clientSummary in JSON once every client has them or
// waitTimeout has passed, and closes every connection cleanly when its
// standard input ends.
const (
	clientProcessEnv = "REALTIME_CLIENT_PROCESS" // the server's address
	clientConnsEnv   = "REALTIME_CLIENT_CONNS"   // connections, half SSE, half WebSocket
	clientTopicsEnv  = "REALTIME_CLIENT_TOPICS"  // topics t0, t1, ...; client i follows t(i mod topics)
)

// dialers is how many connections a client process opens at once.
const dialers = 32

// A clientSummary is what the client process reports.
type clientSummary struct {
	Clients   int      // connections held
	Delivered uint64   // messages received, in order, no duplicate
	Lost      uint64   // messages expected and not received
	Errors    []string // the first few errors
	RSS       uint64   // the client process's resident set, in bytes
}

// clientProcess runs the clients of the load test and returns the exit
// code.
func clientProcess() int {
	addr := os.Getenv(clientProcessEnv)
	n, _ := strconv.Atoi(os.Getenv(clientConnsEnv))
	topics, _ := strconv.Atoi(os.Getenv(clientTopicsEnv))
	if n <= 0 || topics <= 0 {
		fmt.Fprintln(os.Stderr, "client process: bad environment")
		return 2
	}
	tallies := make([]*tally, n)
	closers := make([]func() error, n)
	var closing atomic.Bool
	var wg sync.WaitGroup
	var dialErr atomic.Value
	work := make(chan int)
	var dwg sync.WaitGroup
	for range dialers {
		dwg.Go(func() {
			for i := range work {
				tl := &tally{}
				tallies[i] = tl
				target := fmt.Sprintf("?topic=t%d", i%topics)
				if i%2 == 0 {
					c, resp, err := dialSSE(nil, addr, "/events"+target, nil)
					if c == nil {
						dialErr.Store(fmt.Sprintf("sse %d: %v %v", i, err, respStatus(resp)))
						closers[i] = func() error { return nil }
						continue
					}
					closers[i] = c.Close
					wg.Go(func() {
						if err := readSSE(c, tl); !closing.Load() {
							tl.fail(fmt.Errorf("sse client %d: %w", i, err))
						}
					})
				} else {
					c, resp, err := dialWS(nil, addr, "/ws"+target, nil)
					if c == nil {
						dialErr.Store(fmt.Sprintf("ws %d: %v %v", i, err, respStatus(resp)))
						closers[i] = func() error { return nil }
						continue
					}
					closers[i] = c.SendClose
					wg.Go(func() {
						defer c.Close()
						err := readWS(c, tl)
						if !closing.Load() {
							tl.fail(fmt.Errorf("ws client %d: %w", i, err))
						} else if closeCode(err) != 1000 {
							tl.fail(fmt.Errorf("ws client %d: closing: %w, want close 1000", i, err))
						}
					})
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	dwg.Wait()
	if e := dialErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "client process: dial:", e)
		return 1
	}
	fmt.Println("connected")

	in := bufio.NewScanner(os.Stdin)
	var want int
	for in.Scan() {
		if _, err := fmt.Sscanf(in.Text(), "expect %d", &want); err == nil {
			break
		}
	}
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	for time.Now().Before(deadline) {
		behind := false
		for _, tl := range tallies {
			if got, err := tl.count(); got < want && err == nil {
				behind = true
				break
			}
		}
		if !behind {
			break
		}
		<-tick.C
	}
	tick.Stop()
	sum := clientSummary{Clients: n, RSS: rss()}
	for _, tl := range tallies {
		got, err := tl.count()
		sum.Delivered += uint64(got)
		sum.Lost += uint64(max(0, want-got))
		if err != nil && len(sum.Errors) < 10 {
			sum.Errors = append(sum.Errors, err.Error())
		}
	}
	js, _ := json.Marshal(sum)
	fmt.Printf("summary %s\n", js)
	for in.Scan() {
		// Hold the connections until the parent has measured the server.
	}

	closing.Store(true)
	var cwg sync.WaitGroup
	work = make(chan int)
	for range dialers {
		cwg.Go(func() {
			for i := range work {
				closers[i]()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	cwg.Wait()
	wg.Wait()
	runtime.GC()
	if len(sum.Errors) > 0 || sum.Lost > 0 {
		return 1
	}
	return 0
}
