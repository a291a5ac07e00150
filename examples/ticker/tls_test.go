package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/sse"
)

// TestTLS: with -tls-cert and -tls-key the ticker serves its page and its
// stream over HTTPS, and over HTTP/2 to a client that speaks it, as
// browsers do.
func TestTLS(t *testing.T) {
	leakcheck.Check(t)
	conf := withTLS(t)
	m := newMarket()
	b := sse.NewBroker(brokerOptions(m, nil))
	addr := serveOnLoopback(t, newHandler(m, b))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.run(ctx, b, testEvery) }()
	defer func() {
		cancel()
		<-done
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		b.Shutdown(sctx)
	}()

	tr := &http.Transport{TLSClientConfig: conf.Clone(), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, path := range []string{"/", "/events?topic=ACME"} {
		resp, err := client.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Errorf("GET %s: %s over %s, want 200 over HTTP/2", path, resp.Status, resp.Proto)
		}
		if path != "/" {
			if _, err := sse.NewReader(resp.Body).Next(); err != nil {
				t.Errorf("no event over HTTP/2: %v", err)
			}
		}
		resp.Body.Close()
	}
	if examplecmd.Scheme("http") != "https" {
		t.Errorf("the listening URL's scheme is %s", examplecmd.Scheme("http"))
	}
}
