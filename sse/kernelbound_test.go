//go:build linux

package sse

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/netopt"
)

// TestConnContextBoundsKernel: with ConnContext set on the server, a
// stream served by its handler sets TCP_NOTSENT_LOWAT on its connection,
// as a taken-over stream does, so that the kernel holds at most about
// netopt.NotSentLowat for a client that does not read; without it, the
// stream cannot reach its connection.
func TestConnContextBoundsKernel(t *testing.T) {
	for _, tc := range []struct {
		name        string
		connContext bool
		takeOver    bool
		want        int
	}{
		{"handler", true, false, netopt.NotSentLowat},
		{"handler without ConnContext", false, false, 0},
		{"TakeOver", false, true, netopt.NotSentLowat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			b := NewBroker(BrokerOptions{TakeOver: tc.takeOver})
			ts := httptest.NewUnstartedServer(b)
			var mu sync.Mutex
			var conns []net.Conn
			ts.Config.ConnState = func(c net.Conn, s http.ConnState) {
				if s == http.StateNew {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			}
			if tc.connContext {
				ts.Config.ConnContext = ConnContext
			}
			ts.Start()
			c := ts.Client()
			defer ts.Close()
			defer c.CloseIdleConnections()
			resp, r := open(t, c, ts.URL+"?topic=t")
			if _, err := b.Publish("t", Event{Data: "x"}); err != nil {
				t.Fatal(err)
			}
			next(t, r) // the stream is set up and written to
			mu.Lock()
			got := make([]int, len(conns))
			for i, c := range conns {
				n, err := netopt.GetNotSentLowat(c)
				if err != nil {
					t.Error(err)
				}
				got[i] = n
			}
			mu.Unlock()
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("TCP_NOTSENT_LOWAT of the stream's connection = %v, want [%d]", got, tc.want)
			}
			resp.Body.Close()
			if err := b.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}
