package ws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

// dialCtx bounds one test's dialing and reading.
func dialCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// TestDialEcho: a client Conn talks to a server Conn. The server checks
// that every frame is masked (it fails the connection otherwise), so
// messages of every size coming back intact means the client masks them,
// and the handshake carries the header, origin and subprotocol asked for.
func TestDialEcho(t *testing.T) {
	leakcheck.Check(t)
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		c, err := Accept(w, r, &AcceptOptions{Subprotocols: []string{"chat.v2"}, ReadLimit: 1 << 20})
		if err != nil {
			return
		}
		echo(c)
	}))
	defer srv.Close()
	ctx := dialCtx(t)
	c, err := Dial(ctx, srv.URL+"/echo", &DialOptions{
		Header:       http.Header{"Authorization": {"Bearer t"}},
		Subprotocols: []string{"other", "chat.v2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	r := <-got
	if r.Header.Get("Authorization") != "Bearer t" || r.Header.Get("Origin") != "http://"+r.Host {
		t.Fatalf("handshake headers: Authorization %q, Origin %q (host %s)", r.Header.Get("Authorization"), r.Header.Get("Origin"), r.Host)
	}
	if c.Subprotocol() != "chat.v2" {
		t.Fatalf("subprotocol %q, want chat.v2", c.Subprotocol())
	}
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 300_000} {
		for _, typ := range []MessageType{MessageText, MessageBinary} {
			msg := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
			if err := c.Write(ctx, typ, msg); err != nil {
				t.Fatal(err)
			}
			rt, back, err := c.Read(ctx)
			if err != nil || rt != typ || !bytes.Equal(back, msg) {
				t.Fatalf("%v message of %d bytes: came back as %v of %d bytes, %v", typ, n, rt, len(back), err)
			}
		}
	}
	if err := c.Close(StatusNormalClosure, "done"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); closeStatus(err) != StatusNormalClosure {
		t.Fatalf("Read after Close: %v", err)
	}
}

// TestDialRefused: a handshake the server refuses names the status; a
// subprotocol the server did not offer, or a scheme that is not
// WebSocket's, fails.
func TestDialRefused(t *testing.T) {
	leakcheck.Check(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nope":
			http.Error(w, "go away", http.StatusForbidden)
		default:
			c, err := Accept(w, r, nil)
			if err == nil {
				echo(c)
			}
		}
	}))
	defer srv.Close()
	ctx := dialCtx(t)
	if _, err := Dial(ctx, srv.URL+"/nope", nil); !errors.Is(err, errHandshake) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Dial to a 403: %v, want errHandshake naming 403", err)
	}
	if _, err := Dial(ctx, srv.URL+"/x", &DialOptions{Header: http.Header{"Origin": {"https://elsewhere.example"}}}); !errors.Is(err, errHandshake) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Dial from a foreign origin: %v, want errHandshake naming 403", err)
	}
	if _, err := Dial(ctx, srv.URL+"/x", &DialOptions{Header: http.Header{"Origin": {"https://elsewhere.example"}}}); !errors.Is(err, errHandshake) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Dial with a foreign Origin header: %v, want errHandshake naming 403", err)
	}
	if _, err := Dial(ctx, "ftp://"+strings.TrimPrefix(srv.URL, "http://"), nil); err == nil {
		t.Fatal("Dial with scheme ftp worked")
	}
	// A context that ends during the handshake ends it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			defer nc.Close()
			bufio.NewReader(nc).ReadString(0) // never answers
		}
	}()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := Dial(short, "ws://"+ln.Addr().String(), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial to a server that never answers: %v, want context.DeadlineExceeded", err)
	}
}

// TestDialPingAndClose: Ping returns once the server's pong arrives, or
// with ctx's error; close codes go both ways.
func TestDialPingAndClose(t *testing.T) {
	leakcheck.Check(t)
	closed := make(chan error, 1)
	srv := serve(t, nil, func(c *Conn) {
		_, _, err := c.Read(context.Background())
		closed <- err
		c.CloseNow()
	})
	ctx := dialCtx(t)
	c, err := Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		read <- err
	}()
	for range 3 {
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Ping(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with a canceled context: %v", err)
	}
	c.Close(4001, "bye")
	if err := <-closed; closeStatus(err) != 4001 || !strings.Contains(err.Error(), "bye") {
		t.Fatalf("the server saw %v, want close 4001 bye", err)
	}
	if err := <-read; closeStatus(err) != 4001 {
		t.Fatalf("the client's Read ended with %v", err)
	}
	if err := c.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after close: %v, want ErrClosed", err)
	}
}

// rawServer is a WebSocket server that writes frames by hand, for the
// client's conformance: each connection runs play with the raw connection
// after the handshake.
func rawServer(t *testing.T, play func(c *wstest.Conn)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
		rw.WriteString("Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
		rw.Flush()
		nc.SetDeadline(time.Now().Add(waitTimeout))
		play(&wstest.Conn{Conn: nc, R: rw.Reader})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// unmasked returns a final, unmasked frame, as a server sends.
func unmasked(op byte, p string) wstest.Frame {
	return wstest.Frame{Fin: true, Op: op, Payload: []byte(p)}
}

// TestDialConformance runs the message layer's RFC 6455 checks on the
// client side against a server that writes raw frames: fragments are
// assembled, pings answered with masked pongs, and a masked frame, a
// reserved opcode, invalid UTF-8 or a message over the read limit fail
// the connection with the right close code, sent masked.
func TestDialConformance(t *testing.T) {
	leakcheck.Check(t)
	type result struct {
		frames []wstest.Frame
		err    error
	}
	cases := []struct {
		name   string
		send   []wstest.Frame
		want   string // the messages the client reads, joined by |
		code   StatusCode
		reason string
	}{
		{"fragments and a ping in between", []wstest.Frame{
			{Op: wstest.OpText, Payload: []byte("hel")},
			unmasked(wstest.OpPing, "p"),
			{Fin: true, Op: wstest.OpContinuation, Payload: []byte("lo")},
			unmasked(wstest.OpClose, "\x03\xe8"),
		}, "hello", StatusNormalClosure, ""},
		{"masked frame", []wstest.Frame{wstest.Masked(wstest.OpText, []byte("x"))}, "", statusProtocolError, "server frame masked"},
		{"reserved opcode", []wstest.Frame{unmasked(0x3, "")}, "", statusProtocolError, "reserved opcode"},
		{"invalid UTF-8", []wstest.Frame{unmasked(wstest.OpText, "\xff")}, "", statusInvalidFramePayloadData, "UTF-8"},
		{"over the read limit", []wstest.Frame{unmasked(wstest.OpBinary, strings.Repeat("x", 200))}, "", StatusMessageTooBig, "100"},
		{"reserved bit", []wstest.Frame{{Fin: true, Rsv: 0x40, Op: wstest.OpText}}, "", statusProtocolError, "reserved bits"},
		{"continuation with nothing to continue", []wstest.Frame{unmasked(wstest.OpContinuation, "x")}, "", statusProtocolError, "continuation"},
		{"ping over 125 bytes", []wstest.Frame{unmasked(wstest.OpPing, strings.Repeat("p", 126))}, "", statusProtocolError, "125"},
		{"fragmented ping", []wstest.Frame{{Op: wstest.OpPing}}, "", statusProtocolError, "fragmented control"},
		{"close code 1005", []wstest.Frame{unmasked(wstest.OpClose, "\x03\xed")}, "", statusProtocolError, "invalid close code"},
		{"new message inside a fragmented one", []wstest.Frame{{Op: wstest.OpText, Payload: []byte("a")}, unmasked(wstest.OpText, "b")}, "", statusProtocolError, "inside a fragmented"},
		{"server going away", []wstest.Frame{unmasked(wstest.OpText, "last"), unmasked(wstest.OpClose, "\x03\xe9bye")}, "last", StatusGoingAway, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan result, 1)
			srv := rawServer(t, func(c *wstest.Conn) {
				var r result
				if r.err = c.WriteFrames(tc.send...); r.err == nil {
					for {
						f, err := c.ReadFrame()
						if err != nil {
							break
						}
						r.frames = append(r.frames, f)
						if f.Op == wstest.OpClose {
							c.WriteFrames(unmasked(wstest.OpClose, string(f.Payload[:min(2, len(f.Payload))])))
							break
						}
					}
				}
				got <- r
			})
			ctx := dialCtx(t)
			c, err := Dial(ctx, srv.URL, &DialOptions{ReadLimit: 100, PingInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			var msgs []string
			for {
				_, p, err := c.Read(ctx)
				if err != nil {
					if closeStatus(err) != tc.code {
						t.Fatalf("Read ended with %v, want close code %d", err, tc.code)
					}
					break
				}
				msgs = append(msgs, string(p))
			}
			if strings.Join(msgs, "|") != tc.want {
				t.Fatalf("read %q, want %q", msgs, tc.want)
			}
			r := <-got
			if r.err != nil {
				t.Fatal(r.err)
			}
			last := r.frames[len(r.frames)-1]
			for _, f := range r.frames {
				if !f.Masked {
					t.Fatalf("the client sent an unmasked frame: %+v", f)
				}
			}
			if cf := wstest.ParseClose(last.Payload); last.Op != wstest.OpClose || StatusCode(cf.Code) != tc.code || !strings.Contains(cf.Reason, tc.reason) {
				t.Fatalf("the client's last frame %+v, want close %d %q", last, tc.code, tc.reason)
			}
			if tc.name == "fragments and a ping in between" && (r.frames[0].Op != wstest.OpPong || string(r.frames[0].Payload) != "p") {
				t.Fatalf("the ping got %+v, want a pong with its payload", r.frames[0])
			}
		})
	}
}

// TestDialTLS: wss:// (or https://) connects over TLS, checking the
// server's certificate against DialOptions.TLSConfig.
func TestDialTLS(t *testing.T) {
	leakcheck.Check(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := Accept(w, r, nil); err == nil {
			echo(c)
		}
	}))
	defer srv.Close()
	ctx := dialCtx(t)
	if _, err := Dial(ctx, srv.URL, nil); err == nil {
		t.Fatal("Dial trusted a certificate no one signed")
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, err := Dial(ctx, "wss://"+strings.TrimPrefix(srv.URL, "https://"), &DialOptions{TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	c.Send(MessageText, []byte("over TLS"))
	if _, p, err := c.Read(ctx); err != nil || string(p) != "over TLS" {
		t.Fatalf("echo over TLS: %q, %v", p, err)
	}
	c.Close(StatusNormalClosure, "")
}

// TestDialCloseErrorSide: the error of a close the client sent, for a
// message over its read limit, says that this side closed, not the server.
func TestDialCloseErrorSide(t *testing.T) {
	leakcheck.Check(t)
	u := answerServer(t, func(w io.Writer, accept string) {
		io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+accept+"\r\n\r\n")
		w.Write(appendFrame(nil, opBinary, make([]byte, 200)))
	}, func(nc net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) })
	ctx := dialCtx(t)
	c, err := Dial(ctx, u, &DialOptions{ReadLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(ctx)
	if closeStatus(err) != StatusMessageTooBig || strings.Contains(err.Error(), "server") || !strings.Contains(err.Error(), "this side closed with 1009") {
		t.Fatalf("Read = %v, want this side's close 1009, not the server's", err)
	}
}
