// Package origin decides which browser pages and which host names may use
// a server: the Origin check of WebSocket handshakes (a page of another
// site must not act as the user) and the Host check against DNS rebinding
// (a page of any site whose name was made to resolve to this server must
// not reach it as if it were same-origin). package ws and package sse share
// it, so that both answer the same requests the same way.
package origin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Check applies the origin policy to r: a request without an Origin header
// (a program, not a browser page) is allowed; so is a page of the
// request's own host and port; so is one whose origin matches one of
// patterns. A pattern is matched with path.Match: "example.com",
// "*.example.com" and "localhost:*" match the host (with its port when it
// has one) of http and https origins; a pattern with a scheme, such as
// "chrome-extension://abcdefgh", matches origins of that scheme, which
// nothing else allows; "null" allows the opaque origin that sandboxed
// frames and local files send; "*" allows every origin.
//
// Origins no web page sends are refused with a reason that says so:
// schemes other than http and https (file:, ws:, browser extensions),
// anything with a path, a query, credentials or no host, and "null".
func Check(r *http.Request, patterns []string) error {
	o := r.Header.Get("Origin")
	if o == "" || slices.Contains(patterns, "*") {
		return nil
	}
	if o == "null" {
		if matchAny(patterns, "null") {
			return nil
		}
		return errors.New("origin null (a sandboxed frame or a local file) is not allowed")
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("malformed Origin %q: a page's origin is scheme://host[:port]", truncate(o))
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if scheme != "http" && scheme != "https" {
		if matchAny(patterns, scheme+"://"+host) {
			return nil
		}
		return fmt.Errorf("origin %q has scheme %s: only http and https pages are allowed unless a pattern names the scheme", truncate(o), scheme)
	}
	if sameHost(scheme, host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		if strings.Contains(p, "://") {
			if ok, _ := path.Match(strings.ToLower(p), scheme+"://"+host); ok {
				return nil
			}
			continue
		}
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return nil
		}
	}
	return fmt.Errorf("origin %q is not this server's (%q) nor an allowed origin", truncate(o), truncate(r.Host))
}

// sameHost reports whether an origin of scheme and host (with its port
// when it has one) is the server that reqHost names. A port left out
// stands for the scheme's default on the origin's side; on the request's
// side, where the browser leaves the default port out of Host too, it
// stands for the origin's default port.
func sameHost(scheme, host, reqHost string) bool {
	oh, op := splitHostPort(host)
	rh, rp := splitHostPort(strings.ToLower(reqHost))
	if oh != rh {
		return false
	}
	def := "80"
	if scheme == "https" {
		def = "443"
	}
	if op == "" {
		op = def
	}
	if rp == "" {
		rp = def
	}
	return op == rp
}

// CheckHost refuses a request whose Host header is not one the server
// answers to, so that a page served from a host name an attacker made
// resolve to this server (DNS rebinding) cannot use it. allowed holds
// patterns matched with path.Match against the Host header (with its port
// when it has one), as for Check: "example.com", "*.example.com",
// "localhost:*"; "*" allows every host.
//
// With no patterns, a request that arrived on a loopback address (the
// server listens on localhost) is allowed only for loopback host names:
// localhost and its subdomains, 127.0.0.0/8 and [::1], at any port. Other
// requests are allowed: a server listening on a public address cannot
// guess its names, and should list them.
func CheckHost(r *http.Request, allowed []string) error {
	host := strings.ToLower(r.Host)
	if len(allowed) > 0 {
		if matchAny(allowed, host) {
			return nil
		}
		return fmt.Errorf("host %q is not one this server answers to (not in AllowedHosts)", truncate(r.Host))
	}
	if host == "" || !arrivedOnLoopback(r) || IsLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("host %q is not a loopback name, and this server listens on loopback: list the names it answers to in AllowedHosts", truncate(r.Host))
}

// IsLoopbackHost reports whether host (with a port or not) names this
// machine only: localhost, a subdomain of localhost, an address of
// 127.0.0.0/8 or ::1.
func IsLoopbackHost(host string) bool {
	h, _ := splitHostPort(strings.ToLower(host))
	h = strings.TrimSuffix(h, ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// arrivedOnLoopback reports whether r came in on a loopback local address.
func arrivedOnLoopback(r *http.Request) bool {
	a, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if a == nil {
		return false
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// splitHostPort splits host[:port], with IPv6 addresses in brackets; the
// host it returns has no brackets.
func splitHostPort(hp string) (host, port string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), ""
}

// matchAny reports whether s matches one of patterns, ignoring case.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), s); ok {
			return true
		}
	}
	return false
}

// truncate cuts s for an error message: a header can be long.
func truncate(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// Forwarded returns r as the checks above must see it: when r comes from
// an address in trusted (a proxy of the server's own) and carries an
// X-Forwarded-Host header, as httputil.ReverseProxy's SetXForwarded, nginx
// and Caddy can set, a shallow copy of r whose Host is that header's first
// value, the host the browser asked for; otherwise r itself. The header of
// any other client is ignored: anyone can send it.
func Forwarded(r *http.Request, trusted []netip.Prefix) *http.Request {
	if len(trusted) == 0 {
		return r
	}
	fh := r.Header.Get("X-Forwarded-Host")
	if fh == "" {
		return r
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return r
	}
	addr = addr.Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			r2 := r.WithContext(r.Context())
			r2.Host = strings.TrimSpace(strings.Split(fh, ",")[0])
			return r2
		}
	}
	return r
}
