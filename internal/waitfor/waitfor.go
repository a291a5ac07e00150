// Package waitfor lets a test wait for a condition that has no event to
// wait on, such as a counter or a number of connections, by polling it
// until it holds or a deadline passes. A condition that an event signals
// (a channel, a read) is waited for on that event instead.
package waitfor

import (
	"testing"
	"time"
)

// pollInterval is how often a condition is checked.
const pollInterval = 5 * time.Millisecond

// Cond polls cond until it holds, and fails t if it does not within
// timeout, naming what it waited for.
func Cond(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	State(t, what, timeout, func() (bool, string) { return cond(), "" })
}

// State is Cond for a condition that can say where it stands: cond
// returns whether it holds and a description for the failure.
func State(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if state != "" {
				state = ": " + state
			}
			t.Fatalf("timed out after %v waiting for %s%s", timeout, what, state)
		}
		<-tick.C
	}
}
