package ws

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/wstest"
)

// A resume from an ID the node has not applied yet is answered at once: it
// gets what follows its ID once the node catches up, none of what the
// client has, and Shutdown closes it without waiting for CatchUpWait.
func TestHubResumeAheadOfTheNode(t *testing.T) {
	h, srv := serveHub(t, HubOptions{Epoch: "cluster", CatchUpWait: time.Hour})
	h.PublishAt(1, "a", MessageText, []byte("1"))
	c := dial(t, srv.URL+"?topic=a&lastEventId=cluster-3", nil)
	for seq := uint64(2); seq <= 5; seq++ {
		if _, err := h.PublishAt(seq, "a", MessageText, fmt.Append(nil, seq)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"cluster-4", "cluster-5"} {
		if e := readEnvelope(t, c); e.ID != want {
			t.Fatalf("got %+v, want %s", e, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(ctx) }()
	// The client answers the close frame and closes, so that Shutdown
	// returns at once instead of at its close timeout.
	if cf := readClose(t, c); cf.Code != int(StatusGoingAway) {
		t.Errorf("after Shutdown: close %d, want %d", cf.Code, StatusGoingAway)
	}
	c.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(uint16(StatusGoingAway), "")))
	c.Close()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
