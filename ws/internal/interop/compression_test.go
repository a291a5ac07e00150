package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/realtime-go/realtime/ws"
)

// peer is a third-party client with compression on.
type peer interface {
	write(ctx context.Context, data []byte) error // a text message
	read(ctx context.Context) ([]byte, error)
	extensions() string // the Sec-WebSocket-Extensions the server answered
	close()
}

// peers dial url with each client and each of its compression modes.
var peers = []struct {
	name string
	dial func(t *testing.T, ctx context.Context, url string) peer
}{
	{"coder no context takeover", func(t *testing.T, ctx context.Context, url string) peer {
		return dialCoder(t, ctx, url, websocket.CompressionNoContextTakeover)
	}},
	{"coder context takeover", func(t *testing.T, ctx context.Context, url string) peer {
		return dialCoder(t, ctx, url, websocket.CompressionContextTakeover)
	}},
	{"gorilla", dialGorilla},
	{"gws context takeover", func(t *testing.T, ctx context.Context, url string) peer {
		return dialGWS(t, url, gws.PermessageDeflate{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true})
	}},
	{"gws no context takeover", func(t *testing.T, ctx context.Context, url string) peer {
		return dialGWS(t, url, gws.PermessageDeflate{Enabled: true})
	}},
}

type coderPeer struct {
	c    *websocket.Conn
	resp *http.Response
}

func dialCoder(t *testing.T, ctx context.Context, url string, mode websocket.CompressionMode) peer {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	return &coderPeer{c, resp}
}

func (p *coderPeer) write(ctx context.Context, d []byte) error {
	return p.c.Write(ctx, websocket.MessageText, d)
}
func (p *coderPeer) read(ctx context.Context) ([]byte, error) {
	_, d, err := p.c.Read(ctx)
	return d, err
}
func (p *coderPeer) extensions() string { return p.resp.Header.Get("Sec-WebSocket-Extensions") }
func (p *coderPeer) close()             { p.c.CloseNow() }

type gorillaPeer struct {
	c    *gorilla.Conn
	resp *http.Response
}

func dialGorilla(t *testing.T, ctx context.Context, url string) peer {
	t.Helper()
	d := gorilla.Dialer{EnableCompression: true, HandshakeTimeout: testTimeout}
	c, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.EnableWriteCompression(true)
	if dl, ok := ctx.Deadline(); ok {
		c.SetReadDeadline(dl)
	}
	return &gorillaPeer{c, resp}
}

func (p *gorillaPeer) write(_ context.Context, d []byte) error {
	return p.c.WriteMessage(gorilla.TextMessage, d)
}
func (p *gorillaPeer) read(context.Context) ([]byte, error) {
	_, d, err := p.c.ReadMessage()
	return d, err
}
func (p *gorillaPeer) extensions() string { return p.resp.Header.Get("Sec-WebSocket-Extensions") }
func (p *gorillaPeer) close()             { p.c.Close() }

type gwsPeer struct {
	gws.BuiltinEventHandler
	c    *gws.Conn
	resp *http.Response
	msgs chan []byte
	done chan error
}

func dialGWS(t *testing.T, url string, pd gws.PermessageDeflate) peer {
	t.Helper()
	p := &gwsPeer{msgs: make(chan []byte, 16), done: make(chan error, 1)}
	c, resp, err := gws.NewClient(p, &gws.ClientOption{Addr: url, PermessageDeflate: pd, ReadMaxPayloadSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p.c, p.resp = c, resp
	go c.ReadLoop()
	return p
}

func (p *gwsPeer) OnMessage(_ *gws.Conn, m *gws.Message) {
	p.msgs <- bytes.Clone(m.Bytes())
	m.Close()
}
func (p *gwsPeer) OnClose(_ *gws.Conn, err error) { p.done <- err }

func (p *gwsPeer) write(_ context.Context, d []byte) error {
	return p.c.WriteMessage(gws.OpcodeText, d)
}
func (p *gwsPeer) read(ctx context.Context) ([]byte, error) {
	select {
	case m := <-p.msgs:
		return m, nil
	case err := <-p.done:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (p *gwsPeer) extensions() string { return p.resp.Header.Get("Sec-WebSocket-Extensions") }
func (p *gwsPeer) close()             { p.c.NetConn().Close() }

// countingListener counts the bytes its connections read and write.
type countingListener struct {
	net.Listener
	read, written *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.read, l.written}, nil
}

type countingConn struct {
	net.Conn
	read, written *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// countingServer starts h on a listener that counts the server's bytes.
func countingServer(t *testing.T, h http.Handler) (url string, read, written *atomic.Int64) {
	read, written = new(atomic.Int64), new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = countingListener{srv.Listener, read, written}
	srv.Start()
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), read, written
}

// quotes is a page of repetitive JSON, as a ticker sends.
func quotes(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, `{"symbol":"ACME","bid":`...)
		b = append(b, byte('0'+i%10))
		b = append(b, `01.25,"ask":101.50,"time":"2026-12-02T07:30:05Z"},`...)
	}
	return b
}

// TestCompressionEcho: each client, with compression on, negotiates it,
// sends a compressed message that the server reads, and reads the
// compressed echo; the bytes each way are a fraction of the message.
func TestCompressionEcho(t *testing.T) {
	for _, pc := range peers {
		t.Run(pc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			ended := make(chan struct{})
			url, read, written := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := ws.Accept(w, r, nil)
				if err != nil {
					return
				}
				for {
					typ, data, err := c.Read(context.Background())
					if err != nil {
						c.CloseNow() // returns once the writer stopped
						close(ended)
						return
					}
					c.Send(typ, data)
				}
			}))
			p := pc.dial(t, ctx, url)
			defer p.close()
			if ext := p.extensions(); !strings.HasPrefix(ext, "permessage-deflate") {
				t.Fatalf("Sec-WebSocket-Extensions %q", ext)
			}
			msg := quotes(500)
			const n = 3
			r0, w0 := read.Load(), written.Load() // after the handshake
			for i := range n {
				if err := p.write(ctx, msg); err != nil {
					t.Fatal(err)
				}
				got, err := p.read(ctx)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo %d: %d bytes (%v), want %d", i, len(got), err, len(msg))
				}
			}
			p.close()
			<-ended
			in, out := read.Load()-r0, written.Load()-w0
			t.Logf("%d messages of %d bytes: %d bytes from the client, %d to it", n, len(msg), in, out)
			if in*4 > n*int64(len(msg)) || out*4 > n*int64(len(msg)) {
				t.Fatalf("%d bytes in and %d out for %d messages of %d: not compressed", in, out, n, len(msg))
			}
		})
	}
}

// TestCompressionHub: a Hub broadcast reaches each client compressed.
func TestCompressionHub(t *testing.T) {
	h := ws.NewHub(ws.HubOptions{})
	defer h.Shutdown(context.Background())
	url, _, written := countingServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var ps []peer
	for _, pc := range peers {
		p := pc.dial(t, ctx, url+"?topic=quotes")
		defer p.close()
		ps = append(ps, p)
	}
	msg := quotes(500)
	w0 := written.Load()
	if _, err := h.Publish("quotes", ws.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		got, err := p.read(ctx)
		if err != nil {
			t.Fatalf("%s: %v", peers[i].name, err)
		}
		var env struct{ Data string }
		if err := json.Unmarshal(got, &env); err != nil || env.Data != string(msg) {
			t.Fatalf("%s: %d bytes (%v)", peers[i].name, len(got), err)
		}
	}
	for _, p := range ps {
		p.close()
	}
	h.Shutdown(ctx) // returns once every connection ended
	if out := written.Load() - w0; out*4 > int64(len(msg)*len(ps)) {
		t.Fatalf("%d bytes written for %d copies of %d bytes: not compressed", out, len(ps), len(msg))
	}
}
