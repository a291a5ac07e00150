package main

import (
	"context"
	"net"
	"net/http"
	"slices"
	"testing"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/internal/wstest"
)

// TestAllowedHosts: behind a proxy that passes the browser's Host on, the
// echo server on loopback refuses the public name (403) unless
// -allowed-hosts lists it.
func TestAllowedHosts(t *testing.T) {
	if got, want := examplecmd.Hosts("echo.example"), []string{"echo.example"}; !slices.Equal(got, want) {
		t.Errorf("splitHosts = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		flag string
		want int
	}{{"", http.StatusForbidden}, {"echo.example", http.StatusSwitchingProtocols}} {
		srv := newServer("127.0.0.1:0", examplecmd.Hosts(tc.flag)...)
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		c, resp, err := wstest.Dial("ws://"+ln.Addr().String()+"/ws", http.Header{"Host": {"echo.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if c != nil {
			c.Close()
		}
		if resp.StatusCode != tc.want {
			t.Errorf("-allowed-hosts %q: Host echo.example got %s, want %d", tc.flag, resp.Status, tc.want)
		}
		srv.Shutdown(context.Background())
	}
}
