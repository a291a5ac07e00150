package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/sse"
)

// TestTLS: with -tls-cert and -tls-key the chat serves its pages and its
// feed over HTTPS, HTTP/2 to a client that speaks it, as browsers do, and
// its WebSocket over wss.
func TestTLS(t *testing.T) {
	leakcheck.Check(t)
	conf := withTLS(t)
	c := newChat()
	startChat(t, c) // shuts c down when the test ends
	addr := serveOnLoopback(t, newHandler(c))

	tr := &http.Transport{TLSClientConfig: conf.Clone(), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("GET /: %s over %s, want 200 over HTTP/2", resp.Status, resp.Proto)
	}
	feed, err := hc.Get("https://" + addr + "/events?topic=general")
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Body.Close()
	if feed.StatusCode != http.StatusOK || feed.ProtoMajor != 2 {
		t.Errorf("GET /events: %s over %s, want 200 over HTTP/2", feed.Status, feed.Proto)
	}

	cfg, err := websocket.NewConfig("wss://"+addr+"/ws?nick=ann&room=general&session="+url.QueryEscape(sessionOf(t, c, "ann")), "https://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TlsConfig = conf.Clone()
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ann := &client{t: t, conn: conn}
	ann.waitFor("welcome", func(f frame) bool { return f.Type == "welcome" })
	ann.send(command{Type: "say", Room: "general", Text: "over TLS"})
	got := ann.waitMessage("over TLS")
	e, err := sse.NewReader(feed.Body).Next()
	if err != nil || e.ID != got.ID {
		t.Errorf("the feed over HTTP/2: %+v, %v; want the message %s", e, err, got.ID)
	}
}
