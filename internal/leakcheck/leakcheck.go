// Package leakcheck fails a test that leaves goroutines running.
//
// A test calls [Check] first thing. Check counts the goroutines that run at
// that moment and registers a cleanup which, once the test and the cleanups
// it registered later have finished, waits for the count to come back down
// to at most that number. If it does not within the deadline, the test fails
// with the stacks of every goroutine.
//
// The count is global to the process, so Check means little in a test that
// runs in parallel with others.
package leakcheck

import (
	"runtime"
	"testing"
	"time"
)

// DefaultTimeout is how long [Check] waits for goroutines to return once the
// test is over. Goroutines take a moment to see their connections closed,
// and much longer under the race detector on a loaded machine; only a test
// that fails waits this long.
const DefaultTimeout = 10 * time.Second

// pollInterval is how often the cleanup counts goroutines while it waits.
const pollInterval = 5 * time.Millisecond

// Check fails t if, once t and every cleanup registered after this call have
// finished, more goroutines run than when Check was called. It waits up to
// [DefaultTimeout] for them to return, then reports the difference and the
// stacks of all goroutines with t.Errorf.
//
// Cleanups run last in, first out, so Check should be called before anything
// that registers a cleanup (servers, clients), so that its own cleanup runs
// after they are closed.
func Check(t testing.TB) {
	t.Helper()
	CheckWithin(t, DefaultTimeout)
}

// CheckWithin is [Check] with its own bound on the wait, for tests whose
// goroutines may take longer than [DefaultTimeout] to return. A timeout of
// zero or less checks once, without waiting.
func CheckWithin(t testing.TB, timeout time.Duration) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if !time.Now().Before(deadline) {
				t.Errorf("%d goroutines left behind after %v (%d before, %d now):\n%s",
					n-before, timeout, before, n, stacks())
				return
			}
			time.Sleep(pollInterval)
		}
	})
}

// stacks returns the stacks of all goroutines, however long.
func stacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}
