package interop

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/realtime-go/realtime/ws"
)

// gwsEcho echoes what a gws connection reads.
type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.WriteMessage(m.Opcode, m.Bytes())
}

// echoServers are third-party echo servers with compression on, in each
// of their modes.
var echoServers = []struct {
	name    string
	handler func() http.Handler
}{
	{"coder no context takeover", func() http.Handler { return coderEcho(websocket.CompressionNoContextTakeover) }},
	{"coder context takeover", func() http.Handler { return coderEcho(websocket.CompressionContextTakeover) }},
	{"gorilla", func() http.Handler {
		up := gorilla.Upgrader{EnableCompression: true}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			c.EnableWriteCompression(true)
			for {
				typ, d, err := c.ReadMessage()
				if err != nil || c.WriteMessage(typ, d) != nil {
					return
				}
			}
		})
	}},
	{"gws no context takeover", func() http.Handler {
		return gwsEchoServer(gws.PermessageDeflate{Enabled: true})
	}},
	{"gws context takeover", func() http.Handler {
		return gwsEchoServer(gws.PermessageDeflate{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true})
	}},
}

func coderEcho(mode websocket.CompressionMode) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: mode})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(8 << 20)
		for {
			typ, d, err := c.Read(r.Context())
			if err != nil || c.Write(r.Context(), typ, d) != nil {
				return
			}
		}
	})
}

func gwsEchoServer(pd gws.PermessageDeflate) http.Handler {
	up := gws.NewUpgrader(gwsEcho{}, &gws.ServerOption{PermessageDeflate: pd, ReadMaxPayloadSize: 8 << 20})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
}

// compressedBoth dials h and checks that two messages of 600 bytes, within
// every window a server may ask for, reach it compressed.
func compressedBoth(t *testing.T, ctx context.Context, h http.Handler) {
	t.Helper()
	url, read, _ := countingServer(t, h)
	c, err := ws.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	msg := []byte(strings.Repeat(`{"symbol":"ACME","price":12.50},`, 20)[:600])
	r0 := read.Load() // after the handshake
	for range 2 {
		if err := c.Write(ctx, ws.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if _, back, err := c.Read(ctx); err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("message of %d bytes came back as %d bytes: %v", len(msg), len(back), err)
		}
	}
	if in := read.Load() - r0; in >= 2*int64(len(msg)) {
		t.Errorf("the server read %d bytes for two messages of %d bytes: not compressed", in, len(msg))
	}
	c.Close(ws.StatusNormalClosure, "")
}

// TestDialThirdPartyServers: ws.Dial offers permessage-deflate to servers
// of other libraries, in each of their compression modes; each accepts it
// without context takeover on its side, as the offer asks, and messages
// of every size go both ways, compressed, and come back intact.
func TestDialThirdPartyServers(t *testing.T) {
	for _, s := range echoServers {
		t.Run(s.name, func(t *testing.T) {
			srv := httptest.NewServer(s.handler())
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := ws.Dial(ctx, srv.URL, &ws.DialOptions{ReadLimit: 8 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			compressedBoth(t, ctx, s.handler())
			rng := rand.New(rand.NewPCG(1, 2))
			for _, n := range []int{0, 10, 600, 70_000, 300_000} {
				// Prices as a feed sends them: they compress a few times,
				// within MaxInflateRatio.
				var b []byte
				for len(b) < n {
					b = fmt.Appendf(b, `{"symbol":"S%03d","price":%d.%02d},`, rng.IntN(500), rng.IntN(1000), rng.IntN(100))
				}
				msg := b[:n]
				for range 2 { // a server keeping context would need it for the second
					if err := c.Write(ctx, ws.MessageText, msg); err != nil {
						t.Fatal(err)
					}
					if _, back, err := c.Read(ctx); err != nil || !bytes.Equal(back, msg) {
						t.Fatalf("message of %d bytes came back as %d bytes: %v", n, len(back), err)
					}
				}
			}
			c.Close(ws.StatusNormalClosure, "")
		})
	}
}
