package proxytest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// proxies are the proxies of the page, by the name of their binary.
var proxies = []string{"nginx", "caddy"}

// TestSSE: through each proxy, over HTTP/2 and HTTP/1.1, each event
// reaches the client as it is published (the next one is published only
// once the last has arrived, so a proxy that buffers hangs the test), and a
// stream opened again with Last-Event-ID gets what was published while it
// was closed.
func TestSSE(t *testing.T) {
	for _, name := range proxies {
		t.Run(name, func(t *testing.T) {
			b := startBackend(t)
			p := startProxy(t, name, b.addr)
			for _, h2 := range []bool{true, false} {
				t.Run(protoName(h2), func(t *testing.T) {
					broker, _ := b.current()
					topic := "sse-" + protoName(h2)
					c := p.client(t, h2)
					s := openStream(t, c, p.url("/events?topic="+topic), "", h2)
					var last string
					for i := range 3 {
						last = publishSSE(t, broker, topic, fmt.Sprintf("live %d", i))
						expectEvent(t, s, last, fmt.Sprintf("live %d", i))
					}
					s.close()
					publishSSE(t, broker, topic, "missed 1")
					publishSSE(t, broker, topic, "missed 2")
					s = openStream(t, c, p.url("/events?topic="+topic), last, h2)
					defer s.close()
					expectEvent(t, s, "", "missed 1")
					expectEvent(t, s, "", "missed 2")
				})
			}
		})
	}
}

// TestWebSocket: through each proxy, a page of the site upgrades and gets
// the Hub's messages; a page of another origin, and a request for a host
// the backend does not answer to, are refused with 403 by the backend,
// which logs the fix.
func TestWebSocket(t *testing.T) {
	for _, name := range proxies {
		t.Run(name, func(t *testing.T) {
			b := startBackend(t)
			p := startProxy(t, name, b.addr)
			_, hub := b.current()

			c := dialWS(t, p, "/ws?topic=room", "")
			defer c.Close()
			waitClients(t, hub, 1)
			for i := range 3 {
				id, err := hub.Publish("room", ws.MessageText, []byte(fmt.Sprintf("hello %d", i)))
				if err != nil {
					t.Fatal(err)
				}
				expectMessage(t, c, id, fmt.Sprintf("hello %d", i))
			}

			for _, tc := range []struct {
				name, host, origin, logs string
				want                     int
			}{
				{"site", p.hostPort(site), "https://" + p.hostPort(site), "", http.StatusSwitchingProtocols},
				{"no origin", p.hostPort(site), "", "", http.StatusSwitchingProtocols},
				{"spoofed origin", p.hostPort(site), "https://evil.example", "OriginPatterns", http.StatusForbidden},
				{"spoofed host", p.hostPort("evil.example"), "https://" + p.hostPort("evil.example"), "AllowedHosts", http.StatusForbidden},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if got := handshakeStatus(t, p, tc.host, tc.origin); got != tc.want {
						t.Errorf("Host %s, Origin %q: status %d, want %d", tc.host, tc.origin, got, tc.want)
					}
					if tc.logs != "" && !b.logged(tc.logs) {
						t.Errorf("the backend did not log the refusal with its fix (%s):\n%s", tc.logs, b.log.String())
					}
				})
			}
		})
	}
}

// TestPublicNameNeedsAllowedHosts: a backend on loopback that was not
// told the site's name, as the page warns, refuses every stream and
// WebSocket that comes through the proxy for it (403), and its log says so
// with the fix.
func TestPublicNameNeedsAllowedHosts(t *testing.T) {
	for _, name := range proxies {
		t.Run(name, func(t *testing.T) {
			b := startBackendAllowing(t, nil)
			p := startProxy(t, name, b.addr)
			resp, err := p.client(t, true).Get(p.url("/events?topic=news"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("a stream for %s answered %s, want 403", site, resp.Status)
			}
			if got := handshakeStatus(t, p, p.hostPort(site), "https://"+p.hostPort(site)); got != http.StatusForbidden {
				t.Errorf("a WebSocket for %s answered %d, want 403", site, got)
			}
			for _, want := range []string{"not a loopback name", "AllowedHosts", "-allowed-hosts"} {
				if !b.logged(want) {
					t.Errorf("the backend's log does not say %q:\n%s", want, b.log.String())
				}
			}
		})
	}
}

// TestBackendRestart: through each proxy, the backend stops (its streams
// and connections end), the proxy answers 502 while it is down, and once
// it is back with its history an SSE stream resumed with Last-Event-ID
// and a WebSocket resumed with lastEventId get what was published since.
func TestBackendRestart(t *testing.T) {
	for _, name := range proxies {
		t.Run(name, func(t *testing.T) {
			b := startBackend(t)
			p := startProxy(t, name, b.addr)
			broker, hub := b.current()
			c := p.client(t, true)
			s := openStream(t, c, p.url("/events?topic=news"), "", true)
			defer s.close()
			lastSSE := publishSSE(t, broker, "news", "before")
			expectEvent(t, s, lastSSE, "before")
			conn := dialWS(t, p, "/ws?topic=room", "")
			defer conn.Close()
			waitClients(t, hub, 1)
			lastWS, err := hub.Publish("room", ws.MessageText, []byte("before"))
			if err != nil {
				t.Fatal(err)
			}
			expectMessage(t, conn, lastWS, "before")

			sseHistory, wsHistory := b.stop()
			expectSSEEnd(t, s)
			expectWSEnd(t, conn)
			resp, err := c.Get(p.url("/events?topic=news"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("while the backend is down, %s answered %s, want 502", name, resp.Status)
			}

			b.start(sseHistory, wsHistory)
			broker, hub = b.current()
			publishSSE(t, broker, "news", "after")
			if _, err := hub.Publish("room", ws.MessageText, []byte("after")); err != nil {
				t.Fatal(err)
			}
			s2 := openStream(t, c, p.url("/events?topic=news"), lastSSE, true)
			defer s2.close()
			expectEvent(t, s2, "", "after")
			conn2 := dialWS(t, p, "/ws?topic=room", lastWS)
			defer conn2.Close()
			expectMessage(t, conn2, "", "after")
		})
	}
}

func protoName(h2 bool) string {
	if h2 {
		return "h2"
	}
	return "h1"
}

// A stream is an open event stream.
type stream struct {
	r      *sse.Reader
	body   io.ReadCloser
	cancel context.CancelFunc
}

func (s *stream) close() {
	s.cancel()
	s.body.Close()
}

// openStream opens url with c, resuming after lastID when it is set, and
// checks the answer is an event stream over the protocol asked for.
func openStream(t *testing.T, c *http.Client, url, lastID string, h2 bool) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %s %q, want an event stream", url, resp.Status, body)
	}
	if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
		t.Errorf("served over %s, want HTTP/%d", resp.Proto, want)
	}
	return &stream{r: sse.NewReader(resp.Body), body: resp.Body, cancel: cancel}
}

// publishSSE publishes data to topic and returns its ID.
func publishSSE(t *testing.T, b *sse.Broker, topic, data string) string {
	t.Helper()
	id, err := b.Publish(topic, sse.Event{Type: "note", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// expectEvent reads the next event of s, which must carry data (and id,
// when it is set), within waitBound: an event a proxy holds back never
// comes.
func expectEvent(t *testing.T, s *stream, id, data string) {
	t.Helper()
	type result struct {
		e   sse.Event
		err error
	}
	got := make(chan result, 1)
	go func() {
		e, err := s.r.Next()
		got <- result{e, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("waiting for %q: %v", data, r.err)
		}
		if r.e.Data != data || (id != "" && r.e.ID != id) {
			t.Fatalf("got event %q (id %q), want %q (id %q)", r.e.Data, r.e.ID, data, id)
		}
	case <-time.After(waitBound):
		s.close()
		t.Fatalf("event %q did not arrive within %v: the proxy holds it back", data, waitBound)
	}
}

// expectSSEEnd reads s until it ends, which it must within waitBound.
func expectSSEEnd(t *testing.T, s *stream) {
	t.Helper()
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := s.r.Next(); err != nil {
				ended <- err
				return
			}
		}
	}()
	select {
	case <-ended:
	case <-time.After(waitBound):
		s.close()
		t.Fatalf("the stream was still open %v after the backend stopped", waitBound)
	}
}

// waitClients waits until hub has n connections: a message published
// before a connection has joined is not for it.
func waitClients(t *testing.T, hub *ws.Hub, n int) {
	t.Helper()
	for deadline := time.Now().Add(waitBound); hub.Stats().Clients != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the Hub has %d connections after %v, want %d", hub.Stats().Clients, waitBound, n)
		}
	}
}

// dialWS opens a WebSocket to path through p as a page of the site does
// (its Origin, the Hub's subprotocol), resuming after lastID when it is
// set.
func dialWS(t *testing.T, p *proxy, path, lastID string) *websocket.Conn {
	t.Helper()
	if lastID != "" {
		path += "&lastEventId=" + lastID
	}
	cfg, err := websocket.NewConfig("wss://"+p.hostPort(site)+path, "https://"+p.hostPort(site))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{ws.Subprotocol}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	tc, err := p.dialTLS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tc.SetDeadline(time.Now().Add(waitBound))
	c, err := websocket.NewClient(cfg, tc)
	if err != nil {
		tc.Close()
		t.Fatalf("WebSocket handshake through %s: %v", p.name, err)
	}
	tc.SetDeadline(time.Time{})
	return c
}

// envelope is a message of the Hub's subprotocol.
type envelope struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data string `json:"data"`
}

// expectMessage reads the next message of c, which must be a hub message
// with data (and id, when it is set).
func expectMessage(t *testing.T, c *websocket.Conn, id, data string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitBound))
	var raw string
	if err := websocket.Message.Receive(c, &raw); err != nil {
		t.Fatalf("waiting for %q: %v", data, err)
	}
	var e envelope
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatalf("message %q: %v", raw, err)
	}
	if e.Type != "message" || e.Data != data || (id != "" && e.ID != id) {
		t.Fatalf("got %q, want a message %q (id %q)", raw, data, id)
	}
}

// expectWSEnd reads c until it ends, which it must within waitBound.
func expectWSEnd(t *testing.T, c *websocket.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitBound))
	for {
		var raw string
		err := websocket.Message.Receive(c, &raw)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || !isTimeout(err) {
			return
		}
		t.Fatalf("the WebSocket was still open %v after the backend stopped", waitBound)
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// handshakeStatus sends a WebSocket handshake for /ws?topic=room through
// p with the Host and Origin headers given (none when origin is empty)
// and returns the status of the answer.
func handshakeStatus(t *testing.T, p *proxy, host, origin string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	tc, err := p.dialTLS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(waitBound))
	key := make([]byte, 16)
	rand.Read(key)
	var req strings.Builder
	fmt.Fprintf(&req, "GET /ws?topic=room HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", host)
	fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", base64.StdEncoding.EncodeToString(key))
	if origin != "" {
		fmt.Fprintf(&req, "Origin: %s\r\n", origin)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(tc, req.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatalf("handshake through %s: %v", p.name, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
