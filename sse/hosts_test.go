package sse

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/testutil"
)

// TestBrokerAllowedHosts sends real requests to Brokers on 127.0.0.1 with
// the Host a page gets after DNS rebinding (a name the attacker controls,
// resolving to 127.0.0.1) and with loopback names.
func TestBrokerAllowedHosts(t *testing.T) {
	def, c := newServer(t, NewBroker(BrokerOptions{}), false)
	listed, _ := newServer(t, NewBroker(BrokerOptions{AllowedHosts: []string{"app.example.com:*"}}), false)
	port := func(url string) string { return url[strings.LastIndexByte(url, ':'):] }
	for _, tc := range []struct {
		name string
		url  string
		host string
		want int
	}{
		{"loopback address", def.URL, "127.0.0.1", 200},
		{"localhost", def.URL, "localhost", 200},
		{"rebinding", def.URL, "evil.example", 403},
		{"listed", listed.URL, "app.example.com", 200},
		{"not listed", listed.URL, "evil.example", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "GET", tc.url+"/?topic=t", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host + port(tc.url)
			req.Header.Set("Origin", "http://"+req.Host)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %s, want %d", resp.Status, tc.want)
			}
			if tc.want == 403 {
				body, _ := io.ReadAll(resp.Body)
				if !strings.Contains(string(body), tc.host) || !strings.Contains(string(body), "AllowedHosts") {
					t.Errorf("body %q does not name the host and the option", body)
				}
			}
		})
	}
}

// TestBrokerHostRefusalLogged: a stream refused for its host is logged at
// Warn with the fix: behind a proxy on a loopback backend, every stream of
// the public name is refused, and the log is where the owner looks.
func TestBrokerHostRefusalLogged(t *testing.T) {
	var logs testutil.Buffer
	b := NewBroker(BrokerOptions{Logger: logs.Logger()})
	ts, c := newServer(t, b, false)
	req, err := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/?topic=t", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "app.example"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %s, want 403", resp.Status)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "app.example") || !strings.Contains(l, "AllowedHosts") {
		t.Errorf("the Broker's log %q does not name the host and AllowedHosts at Warn", l)
	}
}
