//go:build linux

package ws

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/netopt"
)

// TestAcceptBoundsKernel: an accepted connection has TCP_NOTSENT_LOWAT
// set, so that the kernel holds at most about netopt.NotSentLowat for a
// client that does not read, not a send buffer it grows to megabytes.
func TestAcceptBoundsKernel(t *testing.T) {
	got := make(chan int, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			got <- -1
			return
		}
		defer c.CloseNow()
		n, err := netopt.GetNotSentLowat(c.nc)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}))
	defer ts.Close()
	dial(t, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if n := <-got; n != netopt.NotSentLowat {
		t.Errorf("TCP_NOTSENT_LOWAT of an accepted connection = %d, want %d", n, netopt.NotSentLowat)
	}
}
