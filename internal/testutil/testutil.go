// Package testutil holds what the core's tests share beyond a raw client
// (internal/wstest) and waiting (internal/waitfor): the switch for the
// long runs, a log destination safe for concurrent writes, an
// authentication middleware, and the memory a test process holds.
package testutil

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"testing"
)

// LongEnv is the environment variable that turns on the long runs: soak,
// attack and many-connection tests that take minutes under the race
// detector. .ci/run sets it in a step of its own.
const LongEnv = "REALTIME_LONG"

// Long skips t unless LongEnv is set to a non-empty value.
func Long(t testing.TB) {
	t.Helper()
	if !LongEnabled() {
		t.Skipf("long run: set %s=1 to run it (.ci/run does)", LongEnv)
	}
}

// LongEnabled reports whether LongEnv is set, for a test that runs in
// both modes at different sizes.
func LongEnabled() bool { return os.Getenv(LongEnv) != "" }

// Buffer collects a Logger's records for a test: it is safe for
// concurrent writes.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a Logger that writes text records to b.
func (b *Buffer) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

type userKey struct{}

// WithUser is an authentication middleware: it puts the user named by the
// "user" query parameter in the request's context, where User finds it.
func WithUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(ContextWithUser(r.Context(), r.URL.Query().Get("user"))))
	})
}

// ContextWithUser returns ctx carrying user, as WithUser does.
func ContextWithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// User returns the user WithUser put in ctx, and whether there is one.
func User(ctx context.Context) (string, bool) {
	u, ok := ctx.Value(userKey{}).(string)
	return u, ok
}

// InUse returns the bytes of heap and of goroutine stacks in use after
// the garbage collector ran, as int64 so that differences can go below
// zero.
func InUse() (heap, stack int64) {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), int64(m.StackInuse)
}
