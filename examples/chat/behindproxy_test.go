package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// dialFrom connects a page from the source address from (127.0.0.x) to the
// chat's /ws at base, whose Host and Origin it uses, with the query and
// the extra header fields.
func dialFrom(t *testing.T, base, from, query string, header http.Header) *client {
	t.Helper()
	cfg, err := websocket.NewConfig("ws"+strings.TrimPrefix(base, "http")+"/ws?"+query, base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: waitTimeout}
	cfg.Header = header
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn}
}

// TestSessionsBehindProxy: behind the server's own reverse proxy
// (-trusted-proxies), a page counts under the address the proxy appends to
// X-Forwarded-For, not the proxy's: more than MaxConnsPerAddr pages of
// different people are served, and the sessions of earlier visitors do not
// refuse a new one. Every page came from the proxy's address, so the
// whole site served MaxConnsPerAddr tabs, and refused every new session
// for SessionKeep once MaxSessionsPerAddr visitors had come. A client that
// is not a trusted proxy gains nothing by sending X-Forwarded-For itself.
func TestSessionsBehindProxy(t *testing.T) {
	leakcheck.Check(t)
	c := newChatBehind([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	srv := startChat(t, c)
	target, _ := url.Parse(srv.URL)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
		pr.Out.Host = pr.In.Host
	}})
	t.Cleanup(proxy.Close)

	// Earlier visitors, through the proxy, as the chat counted them.
	c.mu.Lock()
	for c.byAddr["127.0.0.1"] < MaxSessionsPerAddr {
		if _, err := c.sessionLocked(inboxTopic(newSessionToken(c.key)), "127.0.0.1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Unlock()

	for i := range MaxConnsPerAddr + 1 {
		from := "127.0.0." + strconv.Itoa(2+i)
		nick := "p" + strconv.Itoa(i)
		code, reason, welcomed := dialFrom(t, proxy.URL, from, "nick="+nick+"&session="+issuedBy(t, srv.URL), nil).closed()
		if !welcomed {
			t.Fatalf("page %d through the proxy, from %s: closed with %d %q, want a welcome", i+1, from, code, reason)
		}
	}

	// A client of its own, not a proxy: its X-Forwarded-For is not read.
	c.mu.Lock()
	for c.byAddr["127.0.0.100"] < MaxSessionsPerAddr {
		if _, err := c.sessionLocked(inboxTopic(newSessionToken(c.key)), "127.0.0.100", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Unlock()
	code, reason, welcomed := dialFrom(t, srv.URL, "127.0.0.100", "nick=sneaky&session="+issuedBy(t, srv.URL),
		http.Header{"X-Forwarded-For": {"203.0.113.9"}}).closed()
	if welcomed || code != 1013 || reason != errSessionsAddr.Error() {
		t.Errorf("a client's own X-Forwarded-For: welcomed %v, closed with %d %q; want 1013 %q", welcomed, code, reason, errSessionsAddr)
	}
}
