package ws

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
)

// Shutdown does not wait CatchUpWait for a resume that waits for the Hub
// to apply its ID: the resume gets 503 at once (and tries another node
// with the ID it has), and Shutdown returns.
func TestHubShutdownEndsCatchUpWait(t *testing.T) {
	h, srv := serveHub(t, HubOptions{Epoch: "cluster", CatchUpWait: time.Hour})
	h.PublishAt(1, "a", MessageText, []byte("x"))
	status := make(chan int, 1)
	go func() {
		c, resp, _ := wstest.Dial(srv.URL+"?topic=a&lastEventId=cluster-100", nil)
		if c != nil {
			c.Close()
		}
		if resp == nil {
			status <- 0
			return
		}
		status <- resp.StatusCode
	}()
	waitfor.Cond(t, "the resume to wait", 10*time.Second, func() bool { return h.hub.Stats().Waiting == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v, want nil: it waited for the resume", err)
	}
	if got := <-status; got != http.StatusServiceUnavailable {
		t.Errorf("the waiting resume got %d, want 503", got)
	}
}
