package compat

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A lockedBuffer is an io.Writer that middleware loggers write their
// lines to from the server's goroutines while a test reads them.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// An accessLine is one request in an access log.
type accessLine struct {
	raw         string
	method, uri string
	status      int
	bytes       int64
	duration    time.Duration // zero when the format has none
}

// accessFormat parses the lines of one middleware's access log.
type accessFormat struct {
	name        string
	re          *regexp.Regexp // groups: method, uri, status, bytes[, duration]
	hasDuration bool
}

var (
	// chiFormat is chi's middleware.Logger without colours:
	//	"GET http://127.0.0.1:1/events?topic=t HTTP/1.1" from 127.0.0.1:2 - 200 42B in 1.2ms
	chiFormat = accessFormat{
		name:        "chi middleware.Logger",
		re:          regexp.MustCompile(`"(\S+) (\S+) \S+" from \S+ - (\d{3}) (\d+)B in (\S+)`),
		hasDuration: true,
	}
	// commonFormat is the Common Log Format of gorilla/handlers'
	// LoggingHandler:
	//	127.0.0.1 - - [02/Dec/2026:07:20:00 +0000] "GET /events?topic=t HTTP/1.1" 200 42
	commonFormat = accessFormat{
		name: "gorilla LoggingHandler",
		re:   regexp.MustCompile(`"(\S+) (\S+) \S+" (\d{3}) (\d+)`),
	}
)

// lines parses every line of log that names a request to path.
func (f accessFormat) lines(log, path string) ([]accessLine, error) {
	var out []accessLine
	for l := range strings.SplitSeq(log, "\n") {
		m := f.re.FindStringSubmatch(l)
		if m == nil || !strings.Contains(m[2], path) {
			continue
		}
		a := accessLine{raw: l, method: m[1], uri: m[2]}
		a.status, _ = strconv.Atoi(m[3])
		a.bytes, _ = strconv.ParseInt(m[4], 10, 64)
		if f.hasDuration {
			d, err := time.ParseDuration(m[5])
			if err != nil {
				return nil, fmt.Errorf("%s line %q: duration: %w", f.name, l, err)
			}
			a.duration = d
		}
		out = append(out, a)
	}
	return out, nil
}

// A recordLog is a slog.Handler that keeps every record, for the
// library's own Logger.
type recordLog struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordLog) WithGroup(string) slog.Handler            { return h }
func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// atLeast returns the records at level or above, as text.
func (h *recordLog) atLeast(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Level < level {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		out = append(out, b.String())
	}
	return out
}
