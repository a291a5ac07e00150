package sse

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

func TestClientRefused(t *testing.T) {
	leakcheck.Check(t)
	ts, c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone":
			w.WriteHeader(http.StatusNoContent)
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<p>hi</p>")
		default:
			http.Error(w, "no such feed", http.StatusNotFound)
		}
	}), false)
	cl := &Client{HTTPClient: c}
	for _, tt := range []struct {
		path string
		code int
		msg  string
	}{{"/gone", 204, "No Content"}, {"/html", 200, "text/html"}, {"/x", 404, "no such feed"}} {
		_, err := cl.Subscribe(context.Background(), ts.URL+tt.path, "")
		var se *StatusError
		if !errors.As(err, &se) || se.Code != tt.code || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Subscribe(%s) = %v, want a StatusError %d mentioning %q", tt.path, err, tt.code, tt.msg)
		}
	}
}

func TestClientReconnects(t *testing.T) {
	leakcheck.Check(t)
	// The server answers each connection with one event and the retry
	// time, then ends the response; a refusal ends the stream.
	seen := make(chan string, 10)
	var count atomic.Int32
	ts, c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Last-Event-ID")
		n := int(count.Add(1))
		if n == 4 {
			http.Error(w, "enough", http.StatusForbidden)
			return
		}
		sw := NewWriter(w)
		sw.writeRetry(time.Millisecond)
		sw.Send(Event{ID: strings.Repeat("i", n), Data: "x"})
	}), false)
	s, err := (&Client{HTTPClient: c, Retry: time.Millisecond}).Subscribe(context.Background(), ts.URL, "start")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, want := range []string{"i", "ii", "iii"} {
		ev, err := s.Next()
		if err != nil || ev.ID != want {
			t.Fatalf("Next = %+v, %v; want ID %q", ev, err, want)
		}
	}
	var se *StatusError
	if _, err := s.Next(); !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("Next after a refused reconnect = %v, want StatusError 403", err)
	}
	for _, want := range []string{"start", "i", "ii", "iii"} {
		if got := <-seen; got != want {
			t.Errorf("Last-Event-ID %q, want %q", got, want)
		}
	}
	if s.reconnected() != 3 {
		t.Errorf("Reconnects = %d, want 3", s.reconnected())
	}
}

func TestClientClose(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{})
	ts, c := newServer(t, b, false)
	s, err := (&Client{HTTPClient: c}).Subscribe(context.Background(), ts.URL+"?topic=a", "")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next()
		errc <- err
	}()
	// Close while Next waits for an event: Next returns.
	waitfor.Cond(t, "the stream to open", waitTimeout, func() bool { return b.Stats().Clients == 1 })
	s.Close()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Next after Close = %v, want context.Canceled", err)
	}
	b.Shutdown(context.Background())
}

func TestClientTooLarge(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{})
	ts, c := newServer(t, b, false)
	s, err := (&Client{HTTPClient: c, MaxEventSize: 64}).Subscribe(context.Background(), ts.URL+"?topic=a", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publish(t, b, "a", Event{Data: strings.Repeat("x", 100)})
	if _, err := s.Next(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Next = %v, want ErrTooLarge", err)
	}
	b.Shutdown(context.Background())
}
