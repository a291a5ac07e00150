package main

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/sse"
)

// TestAllowedHosts: behind a proxy that passes the browser's Host on, the
// ticker on loopback refuses the public name (403) unless -allowed-hosts
// lists it.
func TestAllowedHosts(t *testing.T) {
	if got, want := examplecmd.Hosts(" ticker.example, *.example:*,,"), []string{"ticker.example", "*.example:*"}; !slices.Equal(got, want) {
		t.Errorf("splitHosts = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		flag string
		want int
	}{{"", http.StatusForbidden}, {"ticker.example", http.StatusOK}} {
		m := newMarket()
		tk := startTicker(t, m, sse.NewBroker(brokerOptions(m, nil, examplecmd.Hosts(tc.flag)...)))
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", tk.srv.URL+"/events?topic=ACME", nil)
		req.Host = "ticker.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("-allowed-hosts %q: Host ticker.example got %s, want %d", tc.flag, resp.Status, tc.want)
		}
		cancel()
		resp.Body.Close()
	}
}
