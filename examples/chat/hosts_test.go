package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/internal/wstest"
)

// TestAllowedHosts: behind a proxy that passes the browser's Host on, the
// chat on loopback refuses the public name (403) on its WebSocket and its
// feed unless -allowed-hosts lists it.
func TestAllowedHosts(t *testing.T) {
	for _, tc := range []struct {
		flag      string
		forbidden bool
	}{{"", true}, {"chat.example", false}} {
		srv := startChat(t, newChat(examplecmd.Hosts(tc.flag)...))
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events?topic=general", nil)
		req.Host = "chat.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if (resp.StatusCode == http.StatusForbidden) != tc.forbidden {
			t.Errorf("-allowed-hosts %q: the feed for Host chat.example answered %s", tc.flag, resp.Status)
		}
		cancel()
		resp.Body.Close()

		c, wresp, err := wstest.Dial(srv.URL+"/ws?nick=ann&room=general", http.Header{"Host": {"chat.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if c != nil {
			c.Close()
		}
		if (wresp.StatusCode == http.StatusForbidden) != tc.forbidden {
			t.Errorf("-allowed-hosts %q: the WebSocket for Host chat.example answered %s", tc.flag, wresp.Status)
		}
	}
}
