package ws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/websocket"
)

// Bounds of the server's handshake answer, its status line and header,
// as http.Transport's MaxResponseHeaderBytes bounds an HTTP answer: Dial
// fails with errHandshake past either, having read and kept no more.
const (
	// maxHandshakeResponse bounds the answer's bytes.
	maxHandshakeResponse = 1 << 20
	// maxHandshakeHeaders bounds the answer's header lines.
	maxHandshakeHeaders = 100
)

// errHandshakeTooLarge is the error of an answer past those bounds.
var errHandshakeTooLarge = fmt.Errorf("server's answer over %d bytes or %d header lines", maxHandshakeResponse, maxHandshakeHeaders)

// DialOptions configure [Dial]. A nil *DialOptions is the zero value.
type DialOptions struct {
	// Header holds extra request headers, such as Authorization or
	// Cookie. The WebSocket headers themselves cannot be set here. Its
	// Origin is sent as the Origin header; without one, the URL's own
	// origin is (http://host for ws://host), which a server with a
	// same-origin policy, such as this package's, accepts.
	Header http.Header

	// Subprotocols lists the subprotocols to offer, preferred first.
	// Conn.Subprotocol returns the one the server chose, or "".
	Subprotocols []string

	// TLSConfig configures wss:// connections. Nil means the defaults,
	// with the URL's host as the server name.
	TLSConfig *tls.Config

	// DisableCompression turns off per-message compression. By default
	// Dial offers permessage-deflate (RFC 7692) without context takeover,
	// as AcceptOptions describes: a server that accepts it may send
	// compressed messages, which Read inflates within ReadLimit, and
	// messages of at least 512 bytes bytes are sent
	// compressed. An answer that asks for what the offer did not allow
	// fails the handshake.
	DisableCompression bool

	// ReadLimit and PingInterval are those of AcceptOptions, with the
	// same defaults: a client pings an idle server too. Its writes have
	// the defaults of AcceptOptions.WriteTimeout and SendBuffer.
	ReadLimit    int64
	PingInterval time.Duration
}

// Dial opens a WebSocket connection to the ws://, wss://, http:// or
// https:// URL u with x/net/websocket's client handshake, and returns it
// as a *Conn of the client role: the frames it sends are masked, and a
// masked frame from the server fails the connection with
// 1002 (protocol error). Everything else is as for a Conn from Accept: Read
// with a context, Send that never waits, Close with a code, Ping.
//
// ctx bounds connecting and the handshake only, which also end after 10 s.
// A failed handshake returns an error that names the status the server
// answered with. The server's answer is read up to 1 MiB and 100
// header lines; a longer one fails the handshake.
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
	origin := o.Header.Get("Origin")
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
	cfg.Header.Del("Sec-WebSocket-Extensions")
	if !o.DisableCompression {
		cfg.Header.Set("Sec-WebSocket-Extensions", deflateOffer)
	}

	ao := AcceptOptions{ReadLimit: o.ReadLimit, PingInterval: o.PingInterval}
	ao = ao.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, ao.handshakeTimeout)
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
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%w: %w", errHandshake, ctx.Err())
		case hs.err != nil:
			return nil, fmt.Errorf("%w: %w", errHandshake, hs.err)
		}
		return nil, fmt.Errorf("%w: %s: %w", errHandshake, hs.status(), err)
	}
	resp := hs.response()
	if resp == nil {
		nc.Close()
		return nil, fmt.Errorf("%w: no valid answer", errHandshake)
	}
	window, err := deflateAnswered(resp.Header.Values("Sec-WebSocket-Extensions"), !o.DisableCompression)
	if err != nil {
		nc.Close() // RFC 7692, section 5: fail the connection
		return nil, fmt.Errorf("%w: %w", errHandshake, err)
	}
	proto := strings.TrimSpace(resp.Header.Get("Sec-WebSocket-Protocol"))
	nc.SetDeadline(time.Time{})
	c := newConn(ctx, nc, br, proto, &ao)
	c.client = true
	c.compress, c.window = window > 0, uint8(window)
	c.start()
	return c, nil
}

// handshakeConn is what x/net's client handshake reads and writes: the
// connection itself, keeping a copy of the answer so that Dial can read its
// status, chosen subprotocol and extensions, which x/net does not tell. It
// hands x/net whole lines from the Conn's own buffered reader, never past
// the answer's blank line, so that frames the server sent right after its
// answer stay there for the Conn, and it fails the read once the answer
// passes maxHandshakeResponse bytes or maxHandshakeHeaders lines. x/net
// refuses any Sec-WebSocket-Extensions in an answer, so that header is
// handed to it under another name; Dial checks it.
type handshakeConn struct {
	net.Conn
	br      *bufio.Reader
	got     []byte // the answer so far, as the server sent it
	pending []byte // what x/net has still to read of the last line
	lines   int
	ended   bool  // the blank line that ends the answer was read
	err     error // errHandshakeTooLarge, once
}

func (h *handshakeConn) Read(p []byte) (int, error) {
	if len(h.pending) == 0 {
		if err := h.nextLine(); err != nil {
			return 0, err
		}
	}
	n := copy(p, h.pending)
	h.pending = h.pending[n:]
	return n, nil
}

// nextLine reads the next line of the answer into pending.
func (h *handshakeConn) nextLine() error {
	switch {
	case h.err != nil:
		return h.err
	case h.ended:
		return io.EOF // the answer's body, if any, is not read
	}
	start := len(h.got)
	for {
		chunk, err := h.br.ReadSlice('\n')
		if len(h.got)+len(chunk) > maxHandshakeResponse {
			h.err = errHandshakeTooLarge
			return h.err
		}
		h.got = append(h.got, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	line := h.got[start:]
	h.ended = len(bytes.TrimRight(line, "\r\n")) == 0
	if h.lines++; h.lines > 1+maxHandshakeHeaders && !h.ended { // the status line, the header
		h.err = errHandshakeTooLarge
		return h.err
	}
	h.pending = line
	if len(line) > len(extensionsHeader) && strings.EqualFold(string(line[:len(extensionsHeader)]), extensionsHeader) {
		h.pending = append([]byte("X-"), line...)
	}
	return nil
}

// extensionsHeader starts the answer's header line that x/net refuses.
const extensionsHeader = "Sec-WebSocket-Extensions:"

// response parses the answer kept, or returns nil.
func (h *handshakeConn) response() *http.Response {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(h.got)), &http.Request{Method: http.MethodGet})
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

// deflateOffer is the Sec-WebSocket-Extensions value of Dial's offer:
// permessage-deflate without context takeover on either side, as the
// server side of this package answers (see deflateResponse), since Read
// inflates each message on its own and the writer compresses each on its
// own; any window the server allows the client is accepted.
const deflateOffer = deflateExtension + "; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"

// deflateAnswered checks the Sec-WebSocket-Extensions values of the
// server's answer to deflateOffer (offered says whether it was made) and
// returns the window bits the client's compressor may use (8 to 15), or 0
// when the server declined. An answer the offer does not allow is an
// error (RFC 7692, sections 5 and 7.1): another extension, more than one,
// an unknown, repeated or invalid parameter, a client_max_window_bits
// without a value, or no server_no_context_takeover.
func deflateAnswered(values []string, offered bool) (int, error) {
	var exts []string
	for _, v := range values {
		for ext := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(ext) != "" {
				exts = append(exts, ext)
			}
		}
	}
	if len(exts) == 0 {
		return 0, nil
	}
	if !offered || len(exts) > 1 {
		return 0, fmt.Errorf("server answered extensions %q, not offered", strings.Join(values, ", "))
	}
	name, params, ok := parseOffer(exts[0])
	if !ok || !strings.EqualFold(name, deflateExtension) {
		return 0, fmt.Errorf("server answered extension %q, not offered", exts[0])
	}
	window := 15
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		pname := strings.ToLower(p.name)
		if seen[pname] {
			return 0, fmt.Errorf("server answered %s twice", p.name)
		}
		seen[pname] = true
		switch pname {
		case "server_no_context_takeover", "client_no_context_takeover":
			if p.hasValue {
				return 0, fmt.Errorf("server answered %s with a value", p.name)
			}
		case "server_max_window_bits", "client_max_window_bits":
			bits, ok := windowBits(p)
			if !ok {
				return 0, fmt.Errorf("server answered %s=%q, not 8 to 15", p.name, p.value)
			}
			if pname == "client_max_window_bits" {
				window = bits
			}
		default:
			return 0, fmt.Errorf("server answered unknown %s parameter %q", deflateExtension, p.name)
		}
	}
	if !seen["server_no_context_takeover"] {
		// The server would compress with context takeover, which Read does
		// not keep from one message to the next.
		return 0, fmt.Errorf("server answered %s without server_no_context_takeover", deflateExtension)
	}
	return window, nil
}
