package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Load test sizes.
const (
	soakTopics      = 8
	soakShort       = 4 * time.Second // how long the short version publishes
	soakLongConns   = 10_000
	soakWarmupShort = time.Second
	soakWarmupLong  = 30 * time.Second
	soakSampleEvery = 30 * time.Second // how often the long version logs its figures
	goroutineSlack  = 10               // goroutines that may come and go (timers firing, GC workers)
	soakHistory     = 64               // history per topic: full before the long warm-up ends, so it does not count as growth
	memoryTolerance = 0.10             // growth allowed after warm-up
	heapSlack       = 1 << 20          // live-heap growth ignored in any case, in bytes
)

// soakConns returns the connections of the short load test.
func soakConns() int {
	if raceEnabled {
		return 1_000
	}
	return 2_000
}

// TestSoak holds many connections, half SSE and half WebSocket, under
// steady publishing, and checks that every client gets every message of
// its topic in order and that the server's goroutines and memory do not
// grow once warmed up. The clients run in a child process.
//
// REALTIME_SOAK sets how long to publish (and makes 10,000 connections the
// default); REALTIME_CONNS sets the connections.
func TestSoak(t *testing.T) {
	testutil.Long(t)
	leakcheck.CheckWithin(t, waitTimeout)
	long := os.Getenv("REALTIME_SOAK") != ""
	dur := envDuration(t, "REALTIME_SOAK", soakShort)
	conns, warmup, pace := soakConns(), soakWarmupShort, 100*time.Millisecond
	if long {
		conns, warmup, pace = soakLongConns, soakWarmupLong, 200*time.Millisecond
	}
	conns = envInt(t, "REALTIME_CONNS", conns)
	if need := uint64(conns) + 512; need > fileLimit {
		t.Fatalf("%d connections need %d open files in this process, the limit is %d", conns, need, fileLimit)
	}

	r := startRig(t, rigOptions{
		broker: sse.BrokerOptions{MaxClients: conns, HistorySize: soakHistory},
		hub:    ws.HubOptions{MaxClients: conns, HistorySize: soakHistory},
	})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		clientProcessEnv+"="+r.addr,
		clientConnsEnv+"="+strconv.Itoa(conns),
		clientTopicsEnv+"="+strconv.Itoa(soakTopics))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 4)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	defer func() {
		cmd.Process.Kill()
		for range lines {
		}
	}()
	readLine := func(prefix string) string {
		t.Helper()
		line, ok := <-lines
		if !ok || !strings.HasPrefix(line, prefix) {
			cmd.Process.Kill()
			t.Fatalf("client process: got %q (open: %v), want %q...; stderr:\n%s", line, ok, prefix, stderr.String())
		}
		return strings.TrimSpace(strings.TrimPrefix(line, prefix))
	}
	readLine("connected")
	t.Logf("%d connections (%d SSE, %d WebSocket) open in %v", conns, conns-conns/2, conns/2, time.Since(start))
	if s, h := r.broker.Stats(), r.hub.Stats(); s.Clients != conns-conns/2 || h.Clients != conns/2 {
		t.Fatalf("server holds %d streams and %d WebSocket connections, want %d and %d", s.Clients, h.Clients, conns-conns/2, conns/2)
	}

	p := newPublisher(func(seq int) error {
		data := payload(seq)
		for i := range soakTopics {
			topic := "t" + strconv.Itoa(i)
			if _, err := r.broker.Publish(topic, sse.Event{Data: data}); err != nil {
				return err
			}
			if _, err := r.hub.Publish(topic, ws.MessageText, []byte(data)); err != nil {
				return err
			}
		}
		return nil
	})
	// publish runs the publisher for d, then waits for the server's
	// writers to take every message (so that the goroutines that come and
	// go with each burst are gone when counted).
	publish := func(d time.Duration) {
		t.Helper()
		ctx, stop := context.WithTimeout(context.Background(), d)
		defer stop()
		if err := p.run(1<<62, pace, ctx.Done()); err != nil {
			t.Fatalf("publish: %v", err)
		}
		sent := uint64(p.sent.Load())
		waitfor.State(t, "the server to take every message", waitTimeout, func() (bool, string) {
			bs, hs := r.broker.Stats(), r.hub.Stats()
			return bs.Delivered == sent*uint64(conns-conns/2) && hs.Delivered == sent*uint64(conns/2),
				fmt.Sprintf("%d published per topic; broker %+v; hub %+v", sent, bs, hs)
		})
	}

	// Warm up, then take the figures that must not grow.
	publish(warmup)
	g0, h0, rss0 := goroutineFloor(pace), liveHeap(), settledRSS()
	t.Logf("after %v warm-up: %d goroutines, live heap %s, RSS %s", warmup, g0, mib(h0), mib(rss0))
	for end := time.Now().Add(dur); time.Now().Before(end); {
		publish(min(soakSampleEvery, time.Until(end)))
		if long {
			s := r.broker.Stats()
			t.Logf("%v: %d goroutines, live heap %s, RSS %s, %d messages published per topic, %d delivered by SSE, %d by WebSocket",
				time.Since(start).Round(time.Second), goroutineFloor(pace), mib(liveHeap()), mib(settledRSS()),
				p.sent.Load(), s.Delivered, r.hub.Stats().Delivered)
		}
	}
	sent := int(p.sent.Load())
	fmt.Fprintf(stdin, "expect %d\n", sent)
	var sum clientSummary
	if err := json.Unmarshal([]byte(readLine("summary ")), &sum); err != nil {
		t.Fatal(err)
	}
	g1, h1, rss1 := goroutineFloor(pace), liveHeap(), settledRSS()
	bs, hs := r.broker.Stats(), r.hub.Stats()
	t.Logf("held %d connections for %v: %d messages per topic published, %d delivered, %d lost; client process RSS %s",
		sum.Clients, time.Since(start).Round(time.Second), sent, sum.Delivered, sum.Lost, mib(sum.RSS))
	t.Logf("at the end: %d goroutines, live heap %s, RSS %s", g1, mib(h1), mib(rss1))
	t.Logf("broker %+v", bs)
	t.Logf("hub %+v", hs)

	if len(sum.Errors) > 0 {
		t.Errorf("client errors: %q", sum.Errors)
	}
	if want := uint64(sent) * uint64(conns); sum.Delivered != want || sum.Lost != 0 {
		t.Errorf("delivered %d messages and lost %d, want %d and 0", sum.Delivered, sum.Lost, want)
	}
	if bs.WriteFailed+bs.Gaps+bs.Refused+bs.Rejected != 0 || bs.Clients != conns-conns/2 {
		t.Errorf("broker counted failures or lost streams: %+v", bs)
	}
	if hs.WriteFailed+hs.Gaps+hs.Refused != 0 || hs.Clients != conns/2 {
		t.Errorf("hub counted failures or lost connections: %+v", hs)
	}
	if g1 > g0+goroutineSlack {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if float64(h1) > float64(h0)*(1+memoryTolerance)+heapSlack {
		t.Errorf("live heap grew from %s to %s", mib(h0), mib(h1))
	}
	if !raceEnabled && float64(rss1) > float64(rss0)*(1+memoryTolerance) {
		t.Errorf("RSS grew from %s to %s", mib(rss0), mib(rss1))
	}

	stdin.Close()
	if err := <-exited; err != nil {
		t.Errorf("client process: %v; stderr:\n%s", err, stderr.String())
	}
	waitfor.Cond(t, "the server to free every connection", waitTimeout, func() bool {
		return r.broker.Stats().Clients == 0 && r.hub.Stats().Clients == 0
	})
}
