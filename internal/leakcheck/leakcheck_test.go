package leakcheck

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps its cleanups and failures to itself,
// so that a test can watch Check fail.
type recorder struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
}

// finish runs the cleanups as the testing package does: last in, first out.
func (r *recorder) finish() {
	for _, f := range slices.Backward(r.cleanups) {
		f()
	}
}

// leaked blocks until stop is closed. Its name is looked for in the report.
func leaked(stop <-chan struct{}) { <-stop }

func TestLeakFails(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	r := &recorder{TB: t}
	CheckWithin(r, 50*time.Millisecond)
	go leaked(stop)
	r.finish()
	if len(r.errors) != 1 {
		t.Fatalf("a leaked goroutine gave %d failures, want 1: %q", len(r.errors), r.errors)
	}
	if !strings.Contains(r.errors[0], "goroutines left behind") || !strings.Contains(r.errors[0], "leakcheck.leaked") {
		t.Errorf("the failure does not name the leak and show its stack:\n%s", r.errors[0])
	}
}

func TestNoLeakPasses(t *testing.T) {
	r := &recorder{TB: t}
	Check(r)
	done := make(chan struct{})
	go func() { <-done }()
	// A later cleanup stops the goroutine: Check's own runs after it.
	r.Cleanup(func() { close(done) })
	r.finish()
	if len(r.errors) != 0 {
		t.Errorf("no goroutine leaked, yet: %q", r.errors)
	}
}

func TestWaitsForSlowReturn(t *testing.T) {
	r := &recorder{TB: t}
	CheckWithin(r, DefaultTimeout)
	release := make(chan struct{})
	go func() { <-release }()
	// The goroutine is still running when the check begins and returns
	// while it waits.
	time.AfterFunc(20*time.Millisecond, func() { close(release) })
	r.finish()
	if len(r.errors) != 0 {
		t.Errorf("a goroutine that returned within the bound failed the check: %q", r.errors)
	}
}
