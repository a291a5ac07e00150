package ws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// closingServer accepts every connection with Subprotocol, sends it what
// send returns (nothing when nil), and closes it at once, as a broken or
// hostile server does. Each request's lastEventId goes to ids.
func closingServer(t *testing.T, send func() []byte, ids chan<- string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ids != nil {
			select {
			case ids <- r.URL.Query().Get("lastEventId"):
			default:
			}
		}
		c, err := Accept(w, r, &AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		if send != nil {
			c.enqueue(appendFrame(nil, opText, send())) // as it is, not as a direct message
		}
		c.Close(StatusNormalClosure, "")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// retries runs a Subscriber against srv until OnRetry was called n times,
// and returns the attempt numbers and waits it reported.
func retries(t *testing.T, srv *httptest.Server, n int) ([]int, []time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var mu sync.Mutex
	var attempts []int
	var delays []time.Duration
	sub, err := Subscribe(ctx, srv.URL, &SubscribeOptions{Retry: time.Millisecond, MaxRetryDelay: time.Second,
		OnRetry: func(attempt int, d time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, attempt)
			delays = append(delays, d)
			if len(attempts) == n {
				cancel()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for {
		if _, err := sub.Next(ctx); err != nil {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return attempts, delays
}

// TestSubscriberBackoffOnAcceptAndClose: a server that accepts every
// connection and closes it at once does not start the backoff over with
// each 101: over 8 reconnections the attempts count up and each wait is
// drawn from Retry doubled per attempt, so the subscriber comes back ever
// more slowly instead of several times a second for ever.
func TestSubscriberBackoffOnAcceptAndClose(t *testing.T) {
	leakcheck.Check(t)
	srv := closingServer(t, nil, nil)
	attempts, delays := retries(t, srv, 8)
	for i, a := range attempts {
		ceiling := time.Millisecond << i
		if a != i+1 || delays[i] < ceiling/2 || delays[i] > ceiling {
			t.Errorf("retry %d: attempt %d after %v, want attempt %d within [%v, %v]", i+1, a, delays[i], i+1, ceiling/2, ceiling)
		}
	}
}

// TestSubscriberBackoffResetsOnDelivery: a connection that delivered a
// message starts the backoff over, so a server that restarts between
// messages gets its subscribers back after Retry.
func TestSubscriberBackoffResetsOnDelivery(t *testing.T) {
	leakcheck.Check(t)
	srv := closingServer(t, func() []byte { return []byte(`{"type":"direct","data":"hello"}`) }, nil)
	attempts, _ := retries(t, srv, 5)
	for i, a := range attempts {
		if a != 1 {
			t.Errorf("retry %d: attempt %d, want 1 after a connection that delivered a message", i+1, a)
		}
	}
}

// TestSubscriberLongIDNotSentBack: a hub message whose ID is longer than
// maxLastEventID is delivered, but its ID is not repeated in the next
// connection's URL: that connection resumes as a new one.
func TestSubscriberLongIDNotSentBack(t *testing.T) {
	leakcheck.Check(t)
	long := strings.Repeat("i", 61<<10)
	ids := make(chan string, 2)
	srv := closingServer(t, func() []byte {
		return []byte(`{"type":"message","id":"` + long + `","topic":"t","data":1}`)
	}, ids)
	ctx := dialCtx(t)
	sub, err := Subscribe(ctx, srv.URL, &SubscribeOptions{LastEventID: "e-1", Retry: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for range 2 {
		if m, err := sub.Next(ctx); err != nil || m.ID != long {
			t.Fatalf("Next = %.30q, %v", m.ID, err)
		}
	}
	if got := <-ids; got != "e-1" {
		t.Errorf("first lastEventId %.30q, want e-1", got)
	}
	if got := <-ids; got != "" {
		t.Errorf("lastEventId of %d bytes sent back, want none past %d", len(got), maxLastEventID)
	}
	if sub.LastEventID() != "" {
		t.Errorf("LastEventID() of %d bytes", len(sub.LastEventID()))
	}
}

// TestSubscriberBackoffResetsAfterStableConnection: a connection that
// delivered nothing but stayed open stableConnection starts the backoff
// over. (The connection's age is moved back rather than waited for.)
func TestSubscriberBackoffResetsAfterStableConnection(t *testing.T) {
	leakcheck.Check(t)
	var n atomic.Int32
	held, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		if n.Add(1) == 4 {
			close(held)
			<-release
		}
		c.Close(StatusNormalClosure, "")
	}))
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(srv.Close)
	t.Cleanup(free) // before srv.Close, which waits for the handler
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var mu sync.Mutex
	var attempts []int
	sub, err := Subscribe(ctx, srv.URL, &SubscribeOptions{Retry: time.Millisecond,
		OnRetry: func(attempt int, d time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, attempt)
			if len(attempts) == 4 {
				cancel()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := sub.Next(ctx); err != nil {
				return
			}
		}
	}()
	<-held
	// The fourth connection is open once the third reconnection made it.
	waitfor.Cond(t, "the fourth connection", waitTimeout, func() bool { return sub.reconnected() == 3 && sub.current() != nil })
	sub.mu.Lock()
	sub.opened = sub.opened.Add(-stableConnection)
	sub.mu.Unlock()
	free()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(attempts) != "[1 2 3 1]" {
		t.Fatalf("attempts %v, want [1 2 3 1]: the backoff starts over after a connection that stayed open", attempts)
	}
}
