package ws

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/wstest"
)

// TestAllowedHosts sends real handshakes to servers on 127.0.0.1 with the
// Host and Origin headers a page gets after DNS rebinding (a name the
// attacker controls, resolving to 127.0.0.1) and with loopback names.
func TestAllowedHosts(t *testing.T) {
	accepted := make(chan error, 1)
	acceptWith := func(opts *AcceptOptions) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, opts)
			accepted <- err
			if err == nil {
				c.CloseNow()
			}
		})
	}
	def := serve(t, nil, nil)
	def.Config.Handler = acceptWith(nil)
	listed := serve(t, nil, nil)
	listed.Config.Handler = acceptWith(&AcceptOptions{AllowedHosts: []string{"app.example.com:*"}})
	hub := NewHub(HubOptions{})
	defer hub.Shutdown(t.Context())
	hubSrv := serve(t, nil, nil)
	hubSrv.Config.Handler = hub

	port := func(url string) string { return url[strings.LastIndexByte(url, ':'):] }
	for _, tc := range []struct {
		name         string
		url          string
		host, origin string
		want         int
	}{
		{"loopback address", def.URL, "127.0.0.1", "http://127.0.0.1", 101},
		{"localhost", def.URL, "localhost", "http://localhost", 101},
		{"localhost subdomain", def.URL, "app.localhost", "http://app.localhost", 101},
		{"IPv6 loopback", def.URL, "[::1]", "http://[::1]", 101},
		{"rebinding", def.URL, "evil.example", "http://evil.example", 403},
		{"rebinding, no origin", def.URL, "evil.example", "", 403},
		{"rebinding, LAN address", def.URL, "192.168.1.10", "http://192.168.1.10", 403},
		{"listed host", listed.URL, "app.example.com", "http://app.example.com", 101},
		{"listed host, other name", listed.URL, "evil.example", "http://evil.example", 403},
		{"a list replaces the loopback default", listed.URL, "localhost", "http://localhost", 403},
		{"hub, loopback", hubSrv.URL, "localhost", "http://localhost", 101},
		{"hub, rebinding", hubSrv.URL, "evil.example", "http://evil.example", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Host": {tc.host + port(tc.url)}}
			if tc.origin != "" {
				h.Set("Origin", tc.origin+port(tc.url))
			}
			c, resp, err := wstest.Dial(tc.url+"/?topic=t", h)
			if err != nil {
				t.Fatal(err)
			}
			if c != nil {
				c.Close()
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.url == hubSrv.URL {
				return
			}
			err = <-accepted
			if tc.want == 403 {
				if !errors.Is(err, errForbiddenHost) {
					t.Fatalf("Accept error %v, want errForbiddenHost", err)
				}
			} else if err != nil {
				t.Fatalf("Accept: %v", err)
			}
		})
	}

	// The answer says what to do.
	req, err := http.NewRequest("GET", def.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example" + port(def.URL)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := def.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-accepted
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "evil.example") || !strings.Contains(string(body), "AllowedHosts") {
		t.Errorf("answer %s %q does not refuse the host by name and point to the option", resp.Status, body)
	}
}

// TestRefusalLogged: a handshake refused for its host or its origin is
// logged at Warn with the fix, so that a server behind a proxy that
// changes Host says why every page fails; a Hub logs at its Logger.
func TestRefusalLogged(t *testing.T) {
	var logs testutil.Buffer
	hub := NewHub(HubOptions{Conn: AcceptOptions{Logger: logs.Logger()}})
	defer hub.Shutdown(t.Context())
	srv := serve(t, nil, nil)
	srv.Config.Handler = hub
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	for _, tc := range []struct {
		name, host, origin, want string
	}{
		{"host", "app.example" + port, "", "AllowedHosts"},
		{"origin", "localhost" + port, "https://localhost:27443", "$http_host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Host": {tc.host}}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := wstest.Dial(srv.URL+"/?topic=t", h)
			if err != nil {
				t.Fatal(err)
			}
			if c != nil {
				c.Close()
				t.Fatal("upgraded; want 403")
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
			if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, tc.want) {
				t.Errorf("the Hub's log %q does not name the fix (%s) at Warn", l, tc.want)
			}
		})
	}
}
