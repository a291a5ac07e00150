package origin

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// TestLogRefusal: the first refusal of a cause is logged at once with its
// fix; the next ones within LogEvery are counted, not logged, and the
// record after LogEvery says how many were left out; another cause, or
// another logger, has its own limit.
func TestLogRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out syncBuffer
		log := slog.New(slog.NewTextHandler(&out, nil))
		r := httptest.NewRequest("GET", "http://app.example/events", nil)
		r.Header.Set("Origin", "https://app.example")
		refused := errors.New("host \"app.example\" is not a loopback name")

		LogRefusal(log, r, HostCause, refused)
		LogRefusal(log, r, HostCause, refused)
		LogRefusal(log, r, HostCause, refused)
		LogRefusal(log, r, OriginCause, refused)
		lines := out.lines()
		if len(lines) != 2 {
			t.Fatalf("%d records for 3 host and 1 origin refusals at once, want 2 (one per cause):\n%s", len(lines), strings.Join(lines, "\n"))
		}
		if !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "AllowedHosts") ||
			!strings.Contains(lines[0], "-allowed-hosts") || !strings.Contains(lines[0], "not a loopback name") {
			t.Errorf("host record %q does not say why at Warn and name AllowedHosts and -allowed-hosts", lines[0])
		}
		if !strings.Contains(lines[1], "OriginPatterns") || !strings.Contains(lines[1], "$http_host") {
			t.Errorf("origin record %q does not name OriginPatterns and nginx's $http_host", lines[1])
		}

		time.Sleep(LogEvery - time.Second)
		LogRefusal(log, r, HostCause, refused)
		if n := len(out.lines()); n != 2 {
			t.Fatalf("a record %v after the last one; want none before LogEvery (%v)", LogEvery-time.Second, LogEvery)
		}
		time.Sleep(time.Second)
		LogRefusal(log, r, HostCause, refused)
		lines = out.lines()
		if len(lines) != 3 || !strings.Contains(lines[2], "moreRefusedSinceLastRecord=3") {
			t.Fatalf("after LogEvery, records:\n%s\nwant a third saying 3 more were refused", strings.Join(lines, "\n"))
		}

		var other syncBuffer
		LogRefusal(slog.New(slog.NewTextHandler(&other, nil)), r, HostCause, refused)
		if n := len(other.lines()); n != 1 || other.lines()[0] == "" {
			t.Errorf("another logger got %d records for its first refusal, want 1", n)
		}
	})
}
