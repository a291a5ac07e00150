package reliability

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait of this suite for something to happen. It
// only catches a hang: a documented bound (a write timeout, a keep-alive)
// is logged beside the time taken, never asserted, as a loaded machine can
// take longer than any bound.
const waitTimeout = 30 * time.Second

// envDuration returns the duration in the environment variable name, or
// def when it is unset.
func envDuration(t testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", name, v)
	}
	return d
}

// envInt returns the number in the environment variable name, or def when
// it is unset.
func envInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// rss returns the process's resident set size in bytes, from
// /proc/self/status, or 0 where that is not readable.
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// settledRSS returns the resident set size once the garbage is collected
// and freed memory is returned to the system, so that two readings compare
// what the process holds rather than when the collector last ran.
func settledRSS() uint64 {
	runtime.GC() // empties sync.Pools; FreeOSMemory collects once more
	debug.FreeOSMemory()
	return rss()
}

// goroutineFloor returns the fewest goroutines seen over d, sampled every
// few milliseconds: the goroutines that come and go with each burst of
// messages (a WebSocket writer runs only while it has something to write)
// do not count.
func goroutineFloor(d time.Duration) int {
	floor := runtime.NumGoroutine()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		floor = min(floor, runtime.NumGoroutine())
	}
	return floor
}

// liveHeap collects garbage and returns the bytes of live heap objects.
// It collects twice, so that what sync.Pools hold (write buffers, as many
// as the writers of the last burst used) is not counted.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// respStatus returns the status line of resp, or "no response".
func respStatus(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

// mib formats a byte count in MiB.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// The payload of every message published by these tests is its sequence
// number in its stream of messages and the time it was published:
// "seq/unixnano", and optionally "/padding". Receivers check the sequence
// and measure latency.

func payload(seq int) string {
	return strconv.Itoa(seq) + "/" + strconv.FormatInt(time.Now().UnixNano(), 10)
}

// paddedPayload returns a payload of at least size bytes.
func paddedPayload(seq, size int) string {
	p := payload(seq) + "/"
	return p + strings.Repeat("x", max(0, size-len(p)))
}

func parsePayload(s string) (seq int, sent time.Time, err error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, time.Time{}, fmt.Errorf("payload %q: no slash", s)
	}
	b, _, _ = strings.Cut(b, "/")
	seq, err1 := strconv.Atoi(a)
	ns, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, fmt.Errorf("payload %q: not seq/unixnano", s)
	}
	return seq, time.Unix(0, ns), nil
}

// A tally checks that a client receives the messages 0, 1, 2, ... of its
// stream exactly once and in order, and keeps their latencies when asked.
type tally struct {
	mu      sync.Mutex
	next    int // the sequence number expected next
	err     error
	lastID  string
	keepLat bool
	lat     []time.Duration
	changed chan struct{} // receives a value after every message, if not nil
}

// add records a message with ID id and payload data.
func (t *tally) add(id, data string) {
	seq, sent, err := parsePayload(data)
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.err != nil:
	case err != nil:
		t.err = err
	case seq != t.next:
		t.err = fmt.Errorf("got message %d (id %s) after %d messages: lost or duplicated", seq, id, t.next)
	default:
		t.next++
		t.lastID = id
		if t.keepLat {
			t.lat = append(t.lat, now.Sub(sent))
		}
	}
	if t.changed != nil {
		select {
		case t.changed <- struct{}{}:
		default:
		}
	}
}

// fail records err unless an error was recorded already.
func (t *tally) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
	}
}

// count returns how many messages arrived in order, and the first error.
func (t *tally) count() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next, t.err
}

// last returns the ID of the last message received.
func (t *tally) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastID
}

// takeLatencies returns the latencies recorded so far and forgets them.
func (t *tally) takeLatencies() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.lat
	t.lat = nil
	return l
}

// p99 returns the 99th percentile of lat.
func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}

// The ws defaults the bounds below are computed from, as the package
// documents them (AcceptOptions.ReadLimit and SendBuffer,
// HubOptions.MaxTopics, and the inflate ratio and credit of its doc).
const (
	wsReadLimit            = 1 << 20
	wsSendBuffer           = 256 << 10
	wsMaxTopics            = 64
	wsInflateRatio         = 64
	wsInflateCreditPerAddr = 1 << 20
)
