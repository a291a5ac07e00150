package origin

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestCheck(t *testing.T) {
	patterns := []string{"*.example.com", "chrome-extension://good"}
	for _, tc := range []struct {
		host, origin string
		ok           bool
	}{
		{"example.org", "", true},
		{"example.org", "https://example.org", true},
		{"example.org", "http://example.org", true},
		{"example.org", "https://example.org:443", true},
		{"example.org:443", "https://example.org", true},
		{"example.org:80", "http://example.org", true},
		{"example.org:443", "http://example.org", false},
		{"example.org:8080", "http://example.org", false},
		{"example.org", "http://example.org:8080", false},
		{"[::1]:8080", "http://[::1]:8080", true},
		{"EXAMPLE.org", "https://example.ORG", true},
		{"example.org", "https://app.example.com", true},
		{"example.org", "https://example.com", false},
		{"example.org", "null", false},
		{"example.org", "file://", false},
		{"example.org", "file://example.org", false},
		{"example.org", "ws://example.org", false},
		{"example.org", "chrome-extension://good", true},
		{"example.org", "chrome-extension://bad", false},
		{"example.org", "https://example.org/path", false},
		{"example.org", "https://u:p@example.org", false},
		{"example.org", "https://example.org?q", false},
		{"example.org", "example.org", false},
		{"example.org", "%%%", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = tc.host
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		err := Check(r, patterns)
		if (err == nil) != tc.ok {
			t.Errorf("Host %q, Origin %q: %v, want allowed %v", tc.host, tc.origin, err, tc.ok)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "null")
	if err := Check(r, []string{"null"}); err != nil {
		t.Errorf("null with the pattern null: %v", err)
	}
	r.Header.Set("Origin", "file://")
	if err := Check(r, []string{"*"}); err != nil {
		t.Errorf("file:// with the pattern *: %v", err)
	}
}

func TestCheckHost(t *testing.T) {
	at := func(local string) context.Context {
		return context.WithValue(context.Background(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP(local), Port: 8080})
	}
	for _, tc := range []struct {
		local   string
		host    string
		allowed []string
		ok      bool
	}{
		{"127.0.0.1", "localhost:8080", nil, true},
		{"127.0.0.1", "LOCALHOST", nil, true},
		{"127.0.0.1", "localhost.:8080", nil, true},
		{"127.0.0.1", "app.localhost:8080", nil, true},
		{"127.0.0.1", "127.0.0.1:8080", nil, true},
		{"127.0.0.1", "127.1.2.3", nil, true},
		{"::1", "[::1]:8080", nil, true},
		{"127.0.0.1", "evil.example:8080", nil, false},
		{"127.0.0.1", "localhost.evil.example", nil, false},
		{"127.0.0.1", "10.0.0.1:8080", nil, false},
		{"::1", "evil.example", nil, false},
		{"10.0.0.5", "anything.example", nil, true},
		{"10.0.0.5", "anything.example", []string{"app.example.com"}, false},
		{"10.0.0.5", "app.example.com", []string{"app.example.com"}, true},
		{"127.0.0.1", "app.example.com", []string{"*.example.com"}, true},
		{"127.0.0.1", "localhost", []string{"*.example.com"}, false},
		{"127.0.0.1", "evil.example", []string{"*"}, true},
	} {
		r := httptest.NewRequestWithContext(at(tc.local), "GET", "/", nil)
		r.Host = tc.host
		err := CheckHost(r, tc.allowed)
		if (err == nil) != tc.ok {
			t.Errorf("on %s, Host %q, allowed %q: %v, want allowed %v", tc.local, tc.host, tc.allowed, err, tc.ok)
		}
	}
}

func TestForwarded(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := httptest.NewRequest("GET", "http://backend:8080/ws", nil)
	r.Header.Set("X-Forwarded-Host", "chat.example.com, other")
	r.RemoteAddr = "10.1.2.3:5555"
	if got := Forwarded(r, trusted).Host; got != "chat.example.com" {
		t.Errorf("from a trusted proxy: host %q", got)
	}
	if r.Host != "backend:8080" {
		t.Errorf("the request itself was changed: %q", r.Host)
	}
	r.RemoteAddr = "192.0.2.1:5555"
	if got := Forwarded(r, trusted).Host; got != "backend:8080" {
		t.Errorf("from anyone else: host %q, want the request's own", got)
	}
	if got := Forwarded(r, nil).Host; got != "backend:8080" {
		t.Errorf("with no trusted proxy: host %q", got)
	}
}
