package sse

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

func TestWriter(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			leakcheck.Check(t)
			errs := make(chan error, 1)
			ts, c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sw := NewWriter(w)
				sw.writeRetry(time.Second)
				sw.WriteComment("hello")
				if err := sw.writeEvent(Event{ID: "bad\nid"}); !errors.Is(err, errInvalidID) {
					errs <- fmt.Errorf("writeEvent(bad id) = %v", err)
					return
				}
				if err := sw.Send(Event{ID: "1", Data: "one"}); err != nil {
					errs <- err
					return
				}
				sw.writeEvent(Event{ID: "2", Data: "two"})
				sw.writeEvent(Event{ID: "3", Type: "t", Data: "three"})
				errs <- sw.Flush()
			}), h2)
			resp, r := open(t, c, ts.URL)
			if h2 != (resp.ProtoMajor == 2) {
				t.Fatalf("protocol %s", resp.Proto)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type %q", ct)
			}
			var comments []string
			r.OnComment = func(s string) { comments = append(comments, s) }
			want := []Event{
				{ID: "1", Type: "message", Data: "one", Retry: time.Second},
				{ID: "2", Type: "message", Data: "two"},
				{ID: "3", Type: "t", Data: "three"},
			}
			for _, w := range want {
				if got := next(t, r); got != w {
					t.Errorf("got %+v, want %+v", got, w)
				}
			}
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			if strings.Join(comments, ",") != "hello" {
				t.Errorf("comments %q", comments)
			}
		})
	}
}

func TestWriterCannotFlush(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := NewWriter(hider{rec})
	err := sw.Send(Event{Data: "x"})
	if !errors.Is(err, http.ErrNotSupported) || !strings.Contains(err.Error(), "cannot flush") {
		t.Fatalf("Send through a wrapper without Flush or Unwrap = %v, want an error wrapping http.ErrNotSupported", err)
	}
	if err2 := sw.Send(Event{Data: "y"}); err2 != err {
		t.Errorf("after a failure Send = %v, want the same error", err2)
	}

	// Through Unwrap, the recorder's Flush is found; it cannot set
	// deadlines, which is not an error.
	rec = httptest.NewRecorder()
	sw = NewWriter(unwrapper{rec})
	if err := sw.Send(Event{Data: "x"}); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || rec.Body.String() != "data: x\n\n" {
		t.Errorf("recorder flushed %v, body %q", rec.Flushed, rec.Body)
	}
}

// TestWriterDeadline checks that a client that stops reading ends a
// stream within the write timeout, over HTTP/1.1 and HTTP/2.
func TestWriterDeadline(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			leakcheck.Check(t)
			type result struct {
				err  error
				sent int
			}
			done := make(chan result, 1)
			payload := strings.Repeat("z", 64<<10)
			ts, c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sw := NewWriter(w)
				sw.WriteTimeout = 200 * time.Millisecond
				for i := 0; ; i++ {
					if err := sw.Send(Event{Data: payload}); err != nil {
						done <- result{err, i}
						return
					}
				}
			}), h2)
			resp, _ := open(t, c, ts.URL) // never read
			defer resp.Body.Close()
			res := <-done
			t.Logf("stalled after %d KiB: %v", res.sent*len(payload)>>10, res.err)
			if res.err == nil || res.sent == 0 {
				t.Fatalf("got %+v", res)
			}
		})
	}
}
