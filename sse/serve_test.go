package sse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// TestBrokerRefusesWhatCannotStream: behind http.TimeoutHandler (which
// buffers the response), a wrapper with neither Flush nor Unwrap, or one
// whose Flush passes the flush on to such a wrapper, a stream could never
// deliver an event: the request gets 500 before
// anything is sent, and the error log names the cause.
func TestBrokerRefusesWhatCannotStream(t *testing.T) {
	for name, wrap := range map[string]func(http.Handler) http.Handler{
		"TimeoutHandler": func(h http.Handler) http.Handler { return http.TimeoutHandler(h, time.Minute, "timeout") },
		"no Unwrap": func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(hider{w}, r) })
		},
		// A Flush that passes the flush on only when the writer under it
		// can flush (chi's Compress writer), over one that cannot.
		"Flush over no Unwrap": func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(passingFlusher{hider{w}}, r) })
		},
	} {
		for _, takeOver := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/TakeOver=%v", name, takeOver), func(t *testing.T) {
				leakcheck.Check(t)
				var logs testutil.Buffer
				b := NewBroker(BrokerOptions{Logger: logs.Logger(), TakeOver: takeOver})
				ts, c := newServer(t, wrap(b), false)
				c.Timeout = connTimeout
				resp, err := c.Get(ts.URL + "?topic=a")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "retry:") {
					t.Errorf("got %s %q, want 500 and no stream", resp.Status, body)
				}
				if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "cannot flush") {
					t.Errorf("log %q does not name the cause at Error", l)
				}
				if s := b.Stats(); s.Opened != 0 || s.Clients != 0 {
					t.Errorf("Stats = %+v, want no stream opened", s)
				}
				b.Shutdown(context.Background())
			})
		}
	}
}

// passingFlusher is a wrapper with Unwrap whose Flush flushes the writer
// under it if that can flush and does nothing otherwise, as chi's Compress
// writer does for a response it does not compress.
type passingFlusher struct{ http.ResponseWriter }

func (p passingFlusher) Flush() {
	if f, ok := p.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack, like chi's, hijacks the writer under it if that can.
func (p passingFlusher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := p.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("the writer under this one cannot be hijacked")
}

func (p passingFlusher) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// TestBrokerTakeOverDropsBodyHeaders: a compressing middleware sets
// Content-Encoding before the handler runs; a taken-over stream writes its
// own plain body, so it must not send that header.
func TestBrokerTakeOverDropsBodyHeaders(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{TakeOver: true})
	gz := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", "12")
		w.Header().Set("Vary", "Accept-Encoding")
		b.ServeHTTP(w, r)
	})
	ts, c := newServer(t, gz, false)
	c.Transport.(*http.Transport).DisableCompression = true
	resp, r := open(t, c, ts.URL+"?topic=a")
	if ce := resp.Header.Get("Content-Encoding"); ce != "" || resp.ContentLength != -1 {
		t.Errorf("Content-Encoding %q, Content-Length %d: a taken-over stream described a body it does not write", ce, resp.ContentLength)
	}
	if resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("other middleware headers lost: %v", resp.Header)
	}
	publish(t, b, "a", Event{Data: "plain"})
	if ev := next(t, r); ev.Data != "plain" {
		t.Errorf("got %+v", ev)
	}
	b.Shutdown(context.Background())
}

// recorder is an access-log middleware: it records the status, bytes and
// duration of each response once its handler returns.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type accessLine struct {
	status, bytes int
	took          time.Duration
}

func accessLog(h http.Handler, lines chan<- accessLine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		lines <- accessLine{rec.status, rec.bytes, time.Since(start)}
	})
}

// TestBrokerStreamLivesInHandler: by default a stream lives in its
// handler, so an access log records its real status and bytes when it
// ends, a deadline that middleware puts on the request ends it, and
// http.Server.Shutdown ends it through RegisterOnShutdown.
func TestBrokerStreamLivesInHandler(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "http2"}[h2], func(t *testing.T) {
			leakcheck.Check(t)
			b := NewBroker(BrokerOptions{Heartbeat: -1})
			lines := make(chan accessLine, 4)
			deadline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Has("short") {
					ctx, cancel := context.WithTimeout(r.Context(), 50*time.Millisecond)
					defer cancel()
					r = r.WithContext(ctx)
				}
				b.ServeHTTP(w, r)
			})
			ts, c := newServer(t, accessLog(deadline, lines), h2)
			c.Timeout = connTimeout
			ts.Config.RegisterOnShutdown(func() { b.Shutdown(context.Background()) })

			// A middleware deadline ends the stream; the log sees it.
			_, r := open(t, c, ts.URL+"?topic=a&short=1")
			if _, err := io.ReadAll(r.br); err != nil {
				t.Fatalf("stream with a deadline: %v, want a clean end", err)
			}
			if l := <-lines; l.status != http.StatusOK || l.bytes == 0 {
				t.Errorf("access log after a deadline: %+v, want 200 and the bytes sent", l)
			}

			// Shutdown ends a stream, after the events queued for it.
			_, r = open(t, c, ts.URL+"?topic=a")
			waitfor.Cond(t, "a stream", waitTimeout, func() bool { return b.Stats().Clients == 1 })
			publish(t, b, "a", Event{Data: "last"})
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := ts.Config.Shutdown(ctx); err != nil {
				t.Fatalf("srv.Shutdown: %v", err)
			}
			if ev := next(t, r); ev.Data != "last" {
				t.Errorf("got %+v, want the event published before Shutdown", ev)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("after Shutdown: %v, want io.EOF", err)
			}
			if l := <-lines; l.status != http.StatusOK || l.bytes == 0 {
				t.Errorf("access log after Shutdown: %+v, want 200 and the bytes sent", l)
			}
		})
	}
}

// TestBrokerMaxClientsPerAddr: one client address cannot take every slot:
// past MaxClientsPerAddr it gets 429 with Retry-After, while another
// client still gets a stream; a closed stream gives its slot back.
func TestBrokerMaxClientsPerAddr(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{
		MaxClients:        20,
		MaxClientsPerAddr: 3,
		ClientAddr:        func(r *http.Request) string { return r.Header.Get("X-Client") }, // as a trusted proxy would set it
	})
	ts, c := newServer(t, b, false)
	c.Timeout = connTimeout
	var held []*http.Response
	for range 3 {
		resp, _ := open(t, c, ts.URL+"?topic=a", "X-Client", "greedy")
		held = append(held, resp)
	}
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"?topic=a", nil)
		req.Header.Set("X-Client", "greedy")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("greedy client's 4th stream: %s, want 429 with Retry-After", resp.Status)
		}
	}
	_, r := open(t, c, ts.URL+"?topic=a", "X-Client", "polite")
	held[0].Body.Close()
	waitfor.Cond(t, "the slot given back", waitTimeout, func() bool { return b.Stats().Clients == 3 })
	open(t, c, ts.URL+"?topic=a", "X-Client", "greedy")
	publish(t, b, "a", Event{Data: "x"})
	if ev := next(t, r); ev.Data != "x" {
		t.Errorf("polite client got %+v", ev)
	}
	if s := b.Stats(); s.Refused != 10 {
		t.Errorf("Stats = %+v, want 10 refused", s)
	}
	b.Shutdown(context.Background())
}
