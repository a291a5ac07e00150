package sse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// completionRequest is the JSON body of the streaming API served by
// streamingAPI.
type completionRequest struct {
	Prompt string `json:"prompt"`
	Stream bool   `json:"stream"`
}

// streamingAPI answers a POST with a JSON body the way streaming APIs do:
// 200 with an event stream of JSON deltas, then "data: [DONE]". Each event
// has an ID; a request with Last-Event-ID gets the deltas after it. The
// first answer breaks off after two deltas. Each request is sent to seen.
func streamingAPI(t *testing.T, seen chan<- *http.Request, bodies chan<- completionRequest) *httptest.Server {
	var calls atomic.Int32
	words := []string{"Hello", ",", " world", "!"}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		var req completionRequest
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "POST JSON", http.StatusMethodNotAllowed)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !req.Stream {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		bodies <- req
		if r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		from := 0
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			fmt.Sscan(id, &from)
		}
		sw := NewWriter(w)
		n := calls.Add(1)
		for i := from; i < len(words); i++ {
			if n == 1 && i == 2 {
				panic(http.ErrAbortHandler) // the connection breaks off
			}
			data, _ := json.Marshal(map[string]string{"delta": words[i]})
			sw.Send(Event{ID: fmt.Sprint(i + 1), Data: string(data)})
		}
		sw.Send(Event{Data: "[DONE]"})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// TestClientPOSTStream: a POST with a JSON body and headers gets its answer
// as an event stream; when the stream breaks off, the Client sends the same
// request again, body and headers, with Last-Event-ID, and the answer goes
// on where it stopped.
func TestClientPOSTStream(t *testing.T) {
	leakcheck.Check(t)
	seen := make(chan *http.Request, 8)
	bodies := make(chan completionRequest, 8)
	ts := streamingAPI(t, seen, bodies)
	body, _ := json.Marshal(completionRequest{Prompt: "greet", Stream: true})
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/complete", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	var retries []error
	cl := &Client{
		HTTPClient: ts.Client(),
		Header:     http.Header{"Authorization": {"Bearer k"}},
		Retry:      time.Millisecond,
		OnRetry:    func(n int, d time.Duration, err error) { retries = append(retries, err) },
	}
	s, err := cl.Connect(req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var text strings.Builder
	for {
		ev, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Data == "[DONE]" {
			break
		}
		var d struct{ Delta string }
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
			t.Fatalf("event %q: %v", ev.Data, err)
		}
		text.WriteString(d.Delta)
	}
	if text.String() != "Hello, world!" {
		t.Fatalf("answer %q", text.String())
	}
	for i, want := range []string{"", "2"} {
		r := <-seen
		if b := <-bodies; b.Prompt != "greet" {
			t.Errorf("attempt %d: body %+v", i+1, b)
		}
		if got := r.Header.Get("Last-Event-ID"); got != want {
			t.Errorf("attempt %d: Last-Event-ID %q, want %q", i+1, got, want)
		}
		if got := r.Header.Get("Accept"); got != "text/event-stream" {
			t.Errorf("attempt %d: Accept %q", i+1, got)
		}
	}
	if len(retries) != 1 || !errors.Is(retries[0], io.ErrUnexpectedEOF) || s.reconnected() != 1 {
		t.Errorf("retries %v, reconnects %d: want one, after the stream broke off", retries, s.reconnected())
	}
}

// TestClientConnectRefused: a rejected POST (no credentials) ends with the
// status and the body's explanation; a body that cannot be sent again is
// refused before anything is sent.
func TestClientConnectRefused(t *testing.T) {
	leakcheck.Check(t)
	seen := make(chan *http.Request, 8)
	bodies := make(chan completionRequest, 8)
	ts := streamingAPI(t, seen, bodies)
	req, _ := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader(`{"prompt":"x","stream":true}`))
	req.Header.Set("Content-Type", "application/json")
	_, err := (&Client{HTTPClient: ts.Client()}).Connect(req)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized || !strings.Contains(err.Error(), "unauthorized") || errors.Is(err, ErrRetry) {
		t.Fatalf("Connect without credentials = %v, want a StatusError 401 that is not retried", err)
	}

	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ = http.NewRequest(http.MethodPost, ts.URL, pr)
	if _, err := (&Client{HTTPClient: ts.Client()}).Connect(req); err == nil || !strings.Contains(err.Error(), "GetBody") {
		t.Fatalf("Connect with a body that cannot be sent again = %v, want an error naming GetBody", err)
	}
	if len(seen) != 1 {
		t.Fatalf("%d requests reached the server, want 1", len(seen))
	}
}

// TestClientCheckResponse: CheckResponse sees the response before its body
// is read; its error ends the stream, or retries when it wraps ErrRetry.
func TestClientCheckResponse(t *testing.T) {
	leakcheck.Check(t)
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("X-Model-Status", "loading")
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: not yet\n\n")
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"error":"quota"}`)
		}
	}))
	defer ts.Close()
	var checked []string
	cl := &Client{HTTPClient: ts.Client(), Retry: time.Millisecond, CheckResponse: func(resp *http.Response) error {
		checked = append(checked, resp.Header.Get("Content-Type"))
		if resp.Header.Get("X-Model-Status") == "loading" {
			return fmt.Errorf("%w: model loading", ErrRetry)
		}
		return CheckEventStream(resp)
	}}
	_, err := cl.Subscribe(context.Background(), ts.URL, "")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 200 || !strings.Contains(err.Error(), "application/json") {
		t.Fatalf("Subscribe = %v, want the JSON answer rejected", err)
	}
	if strings.Join(checked, ",") != "text/event-stream,application/json" {
		t.Fatalf("checked %q, want the retried stream, then the JSON answer", checked)
	}
}

// TestClientBackoff: while a server answers 503, each retry waits at most
// twice as long as the one before, from the reconnection time up to
// MaxRetryDelay, within the upper half of that range; the Client waits what
// it reports and no more; it gives up after MaxRetries, and a Retry-After
// lengthens a wait. Timers run on synctest's clock; the server is real.
func TestClientBackoff(t *testing.T) {
	leakcheck.Check(t)
	var refuse atomic.Int32 // how many requests to refuse
	var retryAfter atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Add(-1) >= 0 {
			if retryAfter.Load() {
				w.Header().Set("Retry-After", "7")
			}
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		sw := NewWriter(w)
		sw.Send(Event{ID: "1", Data: "ok"})
	}))
	defer ts.Close()
	client := func(retries *[]time.Duration) *Client {
		return &Client{
			// No connection is kept between attempts, so that no goroutine
			// of the bubble waits on the network while its clock should run.
			HTTPClient:    &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
			Retry:         100 * time.Millisecond,
			MaxRetryDelay: time.Second,
			MaxRetries:    8,
			OnRetry:       func(n int, d time.Duration, err error) { *retries = append(*retries, d) },
		}
	}

	synctest.Test(t, func(t *testing.T) {
		refuse.Store(7)
		var delays []time.Duration
		start := time.Now()
		s, err := client(&delays).Subscribe(t.Context(), ts.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		if ev, err := s.Next(); err != nil || ev.Data != "ok" {
			t.Fatalf("Next = %+v, %v", ev, err)
		}
		s.Close()
		var sum time.Duration
		for i, d := range delays {
			ceiling := min(100*time.Millisecond<<i, time.Second)
			if d < ceiling/2 || d > ceiling {
				t.Errorf("retry %d waited %v, want within [%v, %v]", i+1, d, ceiling/2, ceiling)
			}
			sum += d
		}
		if len(delays) != 7 || elapsed != sum {
			t.Errorf("%d retries in %v, want 7 retries in the %v they reported", len(delays), elapsed, sum)
		}
	})

	synctest.Test(t, func(t *testing.T) {
		refuse.Store(100)
		var delays []time.Duration
		_, err := client(&delays).Subscribe(t.Context(), ts.URL, "")
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 503 || !errors.Is(err, ErrRetry) || len(delays) != 8 {
			t.Fatalf("Subscribe against a server that stays busy = %v after %d retries, want a StatusError 503 after 8", err, len(delays))
		}
	})

	synctest.Test(t, func(t *testing.T) {
		refuse.Store(1)
		retryAfter.Store(true)
		defer retryAfter.Store(false)
		var delays []time.Duration
		cl := client(&delays)
		cl.MaxRetryDelay = 10 * time.Second
		s, err := cl.Subscribe(t.Context(), ts.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if len(delays) != 1 || delays[0] != 7*time.Second {
			t.Fatalf("waits %v, want the 7s of Retry-After", delays)
		}
	})
}

// anthropicStream answers each POST the way the Messages API streams: named
// events ending with message_stop, then the end of the response, with no
// "[DONE]". It counts the requests.
func anthropicStream(t *testing.T, requests *atomic.Int32) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		sw := NewWriter(w)
		sw.Send(Event{Type: "message_start", Data: `{"type":"message_start"}`})
		for _, word := range []string{"Hello", " world"} {
			sw.Send(Event{Type: "content_block_delta", Data: `{"delta":{"text":"` + word + `"}}`})
		}
		sw.Send(Event{Type: "message_stop", Data: `{"type":"message_stop"}`})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// TestClientPOSTNormalEnd: a POST whose stream the server ends normally,
// without the "[DONE]" the caller's loop waits for, is sent once: Next
// returns io.EOF after the last event, as many times as it is called,
// instead of sending the request again. With an Idempotency-Key the caller
// asks for the request to be sent again, as EventSource does.
func TestClientPOSTNormalEnd(t *testing.T) {
	leakcheck.Check(t)
	var requests atomic.Int32
	ts := anthropicStream(t, &requests)
	newReq := func() *http.Request {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/messages", strings.NewReader(`{"stream":true}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	cl := &Client{HTTPClient: ts.Client(), Retry: time.Millisecond, MaxRetries: 2}
	s, err := cl.Connect(newReq())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var types []string
	for {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil || len(types) > 8 {
			t.Fatalf("after %v: Next = %v, want io.EOF after message_stop", types, err)
		}
		types = append(types, ev.Type)
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("Next after the end = %v, want io.EOF again", err)
	}
	if got := strings.Join(types, " "); got != "message_start content_block_delta content_block_delta message_stop" {
		t.Errorf("events %q", got)
	}
	if n := requests.Load(); n != 1 || s.reconnected() != 0 {
		t.Errorf("the POST was sent %d times (%d reconnects), want once", n, s.reconnected())
	}

	req := newReq()
	req.Header.Set("Idempotency-Key", "k1")
	s, err = cl.Connect(req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 5; i++ { // the first stream's 4 events, and the next one's first
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if s.reconnected() != 1 {
		t.Errorf("with an Idempotency-Key: %d reconnects after the normal end, want 1", s.reconnected())
	}
}

// TestClientRetryHintFloor: a server's retry field cannot make a Client come
// back faster than minRetryHint, unless the Client's own Retry is shorter.
func TestClientRetryHintFloor(t *testing.T) {
	leakcheck.Check(t)
	ts, c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 1\nid: 1\ndata: x\n\n")
	}), false)
	for _, tt := range []struct {
		retry, min, max time.Duration
	}{
		{0, min(defaultClientRetry, minRetryHint) / 2, min(defaultClientRetry, minRetryHint)},
		{10 * time.Second, minRetryHint / 2, minRetryHint},
		{time.Millisecond, 0, time.Millisecond},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var delay time.Duration
		cl := &Client{HTTPClient: c, Retry: tt.retry, OnRetry: func(_ int, d time.Duration, _ error) {
			delay = d
			cancel() // no need to wait
		}}
		s, err := cl.Subscribe(ctx, ts.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Next = %v, want context.Canceled from OnRetry", err)
		}
		s.Close()
		if delay < tt.min || delay > tt.max {
			t.Errorf("Retry %v, server's retry 1 ms: waited %v, want within [%v, %v]", tt.retry, delay, tt.min, tt.max)
		}
	}
}

// TestClientLongIDNotSentBack: an event ID longer than maxLastEventID is not
// repeated in Last-Event-ID: the next request resumes as a new stream.
func TestClientLongIDNotSentBack(t *testing.T) {
	leakcheck.Check(t)
	seen := make(chan string, 4)
	long := strings.Repeat("i", 61<<10)
	ts, c := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Last-Event-ID")
		sw := NewWriter(w)
		sw.Send(Event{ID: long, Data: "x"})
	}), false)
	s, err := (&Client{HTTPClient: c, Retry: time.Millisecond}).Subscribe(context.Background(), ts.URL, "1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 2; i++ {
		if ev, err := s.Next(); err != nil || ev.ID != long {
			t.Fatalf("Next = %.20q, %v", ev.ID, err)
		}
	}
	if got := <-seen; got != "1" {
		t.Errorf("first Last-Event-ID %.20q, want 1", got)
	}
	if got := <-seen; got != "" {
		t.Errorf("Last-Event-ID of %d bytes sent back, want none past %d", len(got), maxLastEventID)
	}
}

// TestClientPOSTRetriesBounded: a POST whose stream breaks off after an
// event each time is sent again at most MaxRetries times in all: the
// events do not reset the count, as they do for a GET.
func TestClientPOSTRetriesBounded(t *testing.T) {
	leakcheck.Check(t)
	var requests atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) > 10 {
			http.Error(w, "enough", http.StatusForbidden) // ends a client that never stops
			return
		}
		sw := NewWriter(w)
		sw.Send(Event{Data: "partial"})
		panic(http.ErrAbortHandler) // the connection breaks off
	}))
	t.Cleanup(ts.Close)
	req, _ := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader(`{"stream":true}`))
	s, err := (&Client{HTTPClient: ts.Client(), Retry: time.Millisecond, MaxRetries: 2}).Connect(req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var err2 error
	for {
		if _, err2 = s.Next(); err2 != nil {
			break
		}
	}
	if n := requests.Load(); n != 3 || !strings.Contains(err2.Error(), "gave up after 2 retries") {
		t.Fatalf("the POST was sent %d times, ending with %v; want 3 times (MaxRetries 2), then giving up", n, err2)
	}
}
