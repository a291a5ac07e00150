package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/sse"
)

// TestStreamsBehindProxy: behind the server's own reverse proxy
// (-trusted-proxies), a stream counts under the address the proxy appends
// to X-Forwarded-For, not the proxy's, so more than maxStreamsPerAddr
// people can watch: every stream came from the proxy's address, and the
// whole site served maxStreamsPerAddr. A client that is not a trusted
// proxy gains nothing by sending X-Forwarded-For itself.
func TestStreamsBehindProxy(t *testing.T) {
	leakcheck.Check(t)
	m := newMarket()
	tk := startTicker(t, m, sse.NewBroker(brokerOptions(m, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})))
	target, _ := url.Parse(tk.srv.URL)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
		pr.Out.Host = pr.In.Host
	}})
	t.Cleanup(proxy.Close)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	get := func(base, from string, header http.Header) int {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}}
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events?topic=ACME", nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() }) // the stream stays open
		return resp.StatusCode
	}
	for i := range maxStreamsPerAddr + 1 {
		from := "127.0.0." + strconv.Itoa(2+i)
		if code := get(proxy.URL, from, nil); code != http.StatusOK {
			t.Fatalf("stream %d through the proxy, from %s: %d, want 200", i+1, from, code)
		}
	}
	for i := range maxStreamsPerAddr + 1 {
		code := get(tk.srv.URL, "127.0.0.100", http.Header{"X-Forwarded-For": {"203.0.113." + strconv.Itoa(i)}})
		if i < maxStreamsPerAddr && code != http.StatusOK || i == maxStreamsPerAddr && code != http.StatusTooManyRequests {
			t.Fatalf("stream %d from one client with its own X-Forwarded-For: %d", i+1, code)
		}
	}
}
