package ws

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestJoinClosedConn: Join on a Hub connection that closed (an OnMessage
// that joins as its client leaves) fails with an error that wraps
// ErrClosed, in the ws package's words: it passed on the hub's
// ("hub: unsubscribed"), which no ws sentinel matches.
func TestJoinClosedConn(t *testing.T) {
	leakcheck.Check(t)
	got := make(chan *Member, 1)
	_, srv := serveHub(t, HubOptions{OnConnect: func(c *Member, r *http.Request) { got <- c }})
	client := dial(t, srv.URL+"?topic=a", nil)
	c := <-got
	client.Close()
	<-c.Conn().closedChan()
	if err := c.Join("b"); !errors.Is(err, ErrClosed) || strings.Contains(err.Error(), "hub:") {
		t.Errorf("Join on a closed connection = %v, want an error wrapping ErrClosed in the ws package's words", err)
	}
}
