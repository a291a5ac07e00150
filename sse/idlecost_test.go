package sse

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// idleStreams is how many idle streams the idle-cost tests open.
const idleStreams = 500

// stackEnv names the environment variable under which
// TestIdleStreamStacks runs its measurement, in a process of its own.
const stackEnv = "SSE_TEST_IDLE_STACKS"

// TestIdleStreamStacks checks that an idle stream served in its handler
// holds no more goroutine stack than net/http keeps for any handler that
// blocks: its own goroutine, at the size net/http's request reading left
// it, and the connection's background read. The stream's handshake (the
// request's checks, the subscription, OnConnect, here one that needs some
// stack, as one that asks a database would) must not grow the handler's
// stack: a stack grown once is never shrunk while net/http's frames below
// the handler use a quarter of it.
//
// The measurement runs in a process of its own, with the runtime's
// adaptive starting stack size turned off (GODEBUG=adaptivestackstart=0):
// it would otherwise start every goroutine at the average stack size of
// the process's goroutines, which the test's own goroutines sway.
func TestIdleStreamStacks(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector, stack sizes are not those of a server: its doubled stack guard makes net/http's own request reading grow stacks")
	}
	if os.Getenv(stackEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleStreamStacks$", "-test.v")
		cmd.Env = append(os.Environ(), stackEnv+"=1", "GODEBUG=adaptivestackstart=0")
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Fatalf("measuring in a process of its own: %v", err)
		}
		return
	}
	// The floor: a handler that blocks at once, sending nothing.
	release := make(chan struct{})
	var entered atomic.Int64
	floor := idleStacks(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		<-release
	}), func() bool { return entered.Load() == idleStreams }, false, func() { close(release) })

	b := NewBroker(BrokerOptions{OnConnect: func(*http.Request, []string) { useStack(4) }})
	defer b.Shutdown(t.Context())
	ours := idleStacks(t, b, func() bool { return b.Stats().Clients == idleStreams }, true, func() {})
	t.Logf("goroutine stacks per idle stream: %.1f KiB, a handler that blocks %.1f KiB", ours/1024, floor/1024)
	if ours > floor+2048 {
		t.Errorf("an idle stream holds %.1f KiB of goroutine stacks, a handler that blocks %.1f KiB", ours/1024, floor/1024)
	}
}

// useStack uses about n KiB of stack.
//
//go:noinline
func useStack(n int) byte {
	var buf [1000]byte
	buf[n] = byte(n)
	if n > 0 {
		return useStack(n-1) + buf[n]
	}
	return buf[0]
}

// idleStacks serves h, opens idleStreams requests to it, each on a
// connection of its own, and returns the goroutine stacks the server holds
// per request once up() and every goroutine but the two net/http keeps
// for a request have ended (the streams' writers linger a moment after
// they sent the head). With head set, each request waits for its
// response head. Before it closes the server, it calls end, which must
// end h's handlers.
func idleStacks(t *testing.T, h http.Handler, up func() bool, head bool, end func()) float64 {
	t.Helper()
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer end()
	base, baseG := settledStacks()
	conns := make([]net.Conn, 0, idleStreams)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idleStreams {
		conns = append(conns, openRaw(t, ts.Listener.Addr().String(), head))
	}
	deadline := time.Now().Add(waitTimeout)
	for !up() || runtime.NumGoroutine() > baseG+2*idleStreams {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, want %d", runtime.NumGoroutine(), baseG+2*idleStreams)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stacks, _ := settledStacks()
	return float64(stacks-base) / idleStreams
}

// settledStacks returns the bytes of goroutine stacks in use once the
// collector has run, and the number of goroutines.
func settledStacks() (uint64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.StackInuse, runtime.NumGoroutine()
}

// openRaw opens a stream over a connection of its own and, with head set,
// reads the response head; the stream is then idle, its connection open.
func openRaw(t *testing.T, addr string, head bool) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(waitTimeout))
	fmt.Fprintf(c, "GET /?topic=idle HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", addr)
	if !head {
		return c
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		c.Close()
		t.Fatalf("stream answered %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	c.SetDeadline(time.Time{})
	return c
}
