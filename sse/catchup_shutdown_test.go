package sse

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/waitfor"
)

// Shutdown does not wait CatchUpWait for a resume that waits for the
// Broker to apply its ID: the resume gets 503 at once (and tries another
// node with the ID it has), and Shutdown returns.
func TestShutdownEndsCatchUpWait(t *testing.T) {
	b := NewBroker(BrokerOptions{Epoch: "cluster", CatchUpWait: time.Hour})
	b.PublishAt(1, "a", Event{Data: "x"})
	ts, c := newServer(t, b, false)
	status := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"?topic=a", nil)
		req.Header.Set("Last-Event-ID", "cluster-100")
		resp, err := c.Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	waitfor.Cond(t, "the resume to wait", 10*time.Second, func() bool { return b.hub.Stats().Waiting == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v, want nil: it waited for the resume", err)
	}
	if got := <-status; got != http.StatusServiceUnavailable {
		t.Errorf("the waiting resume got %d, want 503", got)
	}
}
