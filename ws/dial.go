package ws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/websocket"
)

// maxHandshakeResponse bounds the bytes of the server's handshake answer
// that Dial keeps to read its status and subprotocol.
const maxHandshakeResponse = 16 << 10

// DialOptions configure [Dial]. A nil *DialOptions is the zero value.
type DialOptions struct {
	// Header holds extra request headers, such as Authorization or
	// Cookie. The WebSocket headers themselves cannot be set here.
	Header http.Header

	// Origin is sent in the Origin header. Empty means an Origin in
	// Header, or else the URL's own origin (http://host for ws://host),
	// which a server with a same-origin policy, such as this package's,
	// accepts.
	Origin string

	// Subprotocols lists the subprotocols to offer, preferred first.
	// Conn.Subprotocol returns the one the server chose, or "".
	Subprotocols []string

	// TLSConfig configures wss:// connections. Nil means the defaults,
	// with the URL's host as the server name.
	TLSConfig *tls.Config

	// HandshakeTimeout bounds connecting and the opening handshake, as
	// well as ctx. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// ReadLimit, WriteTimeout, PingInterval, PongTimeout and
	// SendBuffer are those of AcceptOptions, with the same defaults:
	// a client pings an idle server too.
	ReadLimit    int64
	WriteTimeout time.Duration
	PingInterval time.Duration
	PongTimeout  time.Duration
	SendBuffer   int
}

// Dial opens a WebSocket connection to the ws://, wss://, http:// or
// https:// URL u with x/net/websocket's client handshake, and returns it
// as a *Conn of the client role: the frames it sends are masked, and a
// masked frame from the server fails the connection with
// StatusProtocolError. Everything else is as for a Conn from Accept: Read
// with a context, Send that never waits, Close with a code, Ping.
//
// ctx bounds connecting and the handshake only. A failed handshake
// returns an error that wraps ErrHandshake and names the status the
// server answered with.
func Dial(ctx context.Context, u string, opts *DialOptions) (*Conn, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	loc, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("ws: dial: %w", err)
	}
	secure := false
	switch loc.Scheme {
	case "ws", "http":
		loc.Scheme = "ws"
	case "wss", "https":
		loc.Scheme, secure = "wss", true
	default:
		return nil, fmt.Errorf("ws: dial: scheme %q is not ws, wss, http or https", loc.Scheme)
	}
	origin := o.Origin
	if origin == "" {
		origin = o.Header.Get("Origin")
	}
	if origin == "" {
		origin = "http://" + loc.Host
		if secure {
			origin = "https://" + loc.Host
		}
	}
	cfg, err := websocket.NewConfig(loc.String(), origin)
	if err != nil {
		return nil, fmt.Errorf("ws: dial: %w", err)
	}
	cfg.Protocol = o.Subprotocols
	cfg.Header = o.Header.Clone()
	if cfg.Header == nil {
		cfg.Header = http.Header{}
	}
	cfg.Header.Del("Origin") // x/net writes the origin itself

	ao := AcceptOptions{
		HandshakeTimeout: o.HandshakeTimeout,
		ReadLimit:        o.ReadLimit,
		WriteTimeout:     o.WriteTimeout,
		PingInterval:     o.PingInterval,
		PongTimeout:      o.PongTimeout,
		SendBuffer:       o.SendBuffer,
	}
	ao = ao.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, ao.HandshakeTimeout)
	defer cancel()

	host := loc.Host
	if loc.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		host = net.JoinHostPort(loc.Hostname(), port)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("ws: dial: %w", err)
	}
	if secure {
		tc := o.TLSConfig.Clone()
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc.ServerName = loc.Hostname()
		}
		tconn := tls.Client(nc, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("ws: dial: tls: %w", err)
		}
		nc = tconn
	}

	// The handshake is bounded by ctx: its end sets a deadline in the past.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	br := bufio.NewReaderSize(nc, readBufferSize)
	hs := &handshakeConn{Conn: nc, br: br}
	_, err = websocket.NewClient(cfg, hs)
	if !stop() || err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrHandshake, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrHandshake, hs.status(), err)
	}
	proto := hs.subprotocol()
	hs.done, hs.got = true, bytes.Buffer{}
	nc.SetDeadline(time.Time{})
	c := newConn(ctx, &maskingConn{Conn: nc}, br, proto, &ao)
	c.client = true
	c.start()
	return c, nil
}

// handshakeConn is what x/net's client handshake reads and writes: the
// connection itself, keeping a copy of the answer so that Dial can read its
// status and chosen subprotocol, which x/net does not tell. It hands x/net
// one byte at a time from the Conn's own buffered reader, so that frames
// the server sent right after its answer stay there for the Conn.
type handshakeConn struct {
	net.Conn
	br   *bufio.Reader
	done bool // the handshake is over: stop keeping a copy
	got  bytes.Buffer
}

func (h *handshakeConn) Read(p []byte) (int, error) {
	n, err := h.br.Read(p[:min(len(p), 1)])
	if !h.done && h.got.Len() < maxHandshakeResponse {
		h.got.Write(p[:min(n, maxHandshakeResponse-h.got.Len())])
	}
	return n, err
}

// response parses the answer kept, or returns nil.
func (h *handshakeConn) response() *http.Response {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(h.got.Bytes())), &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil
	}
	resp.Body.Close()
	return resp
}

// status names the server's answer for an error.
func (h *handshakeConn) status() string {
	if resp := h.response(); resp != nil {
		return "server answered " + resp.Status
	}
	return "no valid answer"
}

// subprotocol returns the subprotocol the server chose, or "".
func (h *handshakeConn) subprotocol() string {
	if resp := h.response(); resp != nil {
		return strings.TrimSpace(resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	return ""
}
