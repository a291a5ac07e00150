package ws

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/wstest"
)

func TestOriginPolicy(t *testing.T) {
	accepted := make(chan error, 16)
	handler := func(opts *AcceptOptions) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, opts)
			accepted <- err
			if err == nil {
				c.CloseNow()
			}
		}
	}
	same := serve(t, nil, func(c *Conn) {})
	same.Config.Handler = handler(nil)
	allow := serve(t, nil, func(c *Conn) {})
	allow.Config.Handler = handler(&AcceptOptions{OriginPatterns: []string{"*.example.com", "localhost:*", "chrome-extension://abcdefgh", "null"}})

	host := strings.TrimPrefix(same.URL, "http://")
	for _, tc := range []struct {
		name   string
		url    string
		origin string
		want   int
	}{
		{"no origin (a program)", same.URL, "", 101},
		{"same origin", same.URL, "http://" + host, 101},
		{"same origin, other case", same.URL, "http://" + strings.ToUpper(host), 101},
		{"cross site", same.URL, "https://evil.example", 403},
		{"same host, other port", same.URL, "http://127.0.0.1:1", 403},
		{"malformed", same.URL, "::not a url", 403},
		{"null origin", same.URL, "null", 403},
		{"file page", same.URL, "file://", 403},
		{"file page with a host", same.URL, "file://" + host, 403},
		{"browser extension", same.URL, "chrome-extension://abcdefgh", 403},
		{"ws scheme, same host", same.URL, "ws://" + host, 403},
		{"javascript scheme", same.URL, "javascript://" + host, 403},
		{"with a path", same.URL, "http://" + host + "/page", 403},
		{"with credentials", same.URL, "http://user@" + host, 403},
		{"garbage", same.URL, "not an origin", 403},
		{"allowed extension", allow.URL, "chrome-extension://abcdefgh", 101},
		{"other extension", allow.URL, "chrome-extension://zzz", 403},
		{"null allowed", allow.URL, "null", 101},
		{"allowed pattern", allow.URL, "https://app.example.com", 101},
		{"allowed port pattern", allow.URL, "http://localhost:3000", 101},
		{"not allowed", allow.URL, "https://example.org", 403},
		{"pattern does not match apex", allow.URL, "https://example.com", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := wstest.Dial(tc.url, h)
			if err != nil {
				t.Fatal(err)
			}
			if c != nil {
				c.Close()
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			err = <-accepted
			if tc.want == 403 && !errors.Is(err, errForbiddenOrigin) {
				t.Fatalf("Accept error %v, want errForbiddenOrigin", err)
			}
		})
	}
}

func TestNotAnUpgrade(t *testing.T) {
	srv := serve(t, nil, func(c *Conn) { c.CloseNow() })
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", resp.StatusCode)
	}
	// A handshake without a key: x/net answers 400.
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	buf := make([]byte, 64)
	n, _ := nc.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 400") {
		t.Fatalf("response %q, want 400", buf[:n])
	}
}

func TestSubprotocol(t *testing.T) {
	got := make(chan string, 1)
	srv := serve(t, &AcceptOptions{Subprotocols: []string{"v2.chat", "v1.chat"}}, func(c *Conn) {
		got <- c.Subprotocol()
		c.CloseNow()
	})
	for _, tc := range []struct{ offer, want string }{
		{"v1.chat, v2.chat", "v2.chat"}, // the server's preference wins
		{"v1.chat", "v1.chat"},
		{"other", ""},
		{"", ""},
	} {
		h := http.Header{}
		if tc.offer != "" {
			h.Set("Sec-WebSocket-Protocol", tc.offer)
		}
		c := dial(t, srv.URL, h)
		if p := c.Response.Header.Get("Sec-WebSocket-Protocol"); p != tc.want {
			t.Errorf("offer %q: response header %q, want %q", tc.offer, p, tc.want)
		}
		if p := <-got; p != tc.want {
			t.Errorf("offer %q: Subprotocol() = %q, want %q", tc.offer, p, tc.want)
		}
	}
}

// TestHandshakeTimeout: a client that does not read a large handshake
// response cannot hold the handler beyond the handshake timeout.
func TestHandshakeTimeout(t *testing.T) {
	big := strings.Repeat("x", 4<<20)
	errc := make(chan error, 1)
	srv := serve(t, nil, nil)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", big)
		_, err := Accept(w, r, &AcceptOptions{handshakeTimeout: 200 * time.Millisecond})
		errc <- err
	})
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(4096)
	nc.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	select {
	case err := <-errc:
		if !errors.Is(err, errHandshake) {
			t.Fatalf("Accept: %v, want errHandshake", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Accept did not return")
	}
	if defaultHandshakeTimeout <= 0 {
		t.Fatal("no default handshake timeout")
	}
}
