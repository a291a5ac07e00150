//go:build linux

package ws

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/realtime-go/realtime/internal/netopt"
)

// TestAcceptBoundsKernel: an accepted connection has TCP_NOTSENT_LOWAT
// set, so that the kernel holds at most about netopt.NotSentLowat for a
// client that does not read, not a send buffer it grows to megabytes, and
// a receive buffer of netopt.ReceiveBuffer, which the kernel does not grow
// for a client that sends while the connection is not read.
func TestAcceptBoundsKernel(t *testing.T) {
	got := make(chan [2]int, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			got <- [2]int{-1, -1}
			return
		}
		defer c.CloseNow()
		n, err := netopt.GetNotSentLowat(c.nc)
		if err != nil {
			t.Error(err)
		}
		rcvbuf := -1
		if raw, err := c.nc.(syscall.Conn).SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) { rcvbuf, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) })
		}
		got <- [2]int{n, rcvbuf}
	}))
	defer ts.Close()
	dial(t, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	g := <-got
	if g[0] != netopt.NotSentLowat {
		t.Errorf("TCP_NOTSENT_LOWAT of an accepted connection = %d, want %d", g[0], netopt.NotSentLowat)
	}
	if g[1] != 2*netopt.ReceiveBuffer { // Linux doubles it for its bookkeeping
		t.Errorf("SO_RCVBUF of an accepted connection = %d, want %d", g[1], 2*netopt.ReceiveBuffer)
	}
}
