package ws

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/realtime-go/realtime/internal/netopt"
	"github.com/realtime-go/realtime/internal/origin"
	"github.com/realtime-go/realtime/internal/request"
	"golang.org/x/net/websocket"
)

// Defaults for [AcceptOptions]. Each applies when its option is zero.
const (
	// defaultHandshakeTimeout bounds the opening handshake once the request
	// has been read: hijacking the connection and writing the 101 response.
	// Reading the request is bounded by the http.Server's ReadHeaderTimeout.
	defaultHandshakeTimeout = 10 * time.Second

	// defaultReadLimit is the largest message a peer may send, in bytes,
	// counting every fragment. A larger one closes the connection with
	// StatusMessageTooBig as soon as a frame header announces it, without
	// reading its payload. A message's buffer grows with the bytes that
	// arrive, not with what its frame headers announce: a peer that sends a
	// header and holds costs no more than one that sent nothing.
	defaultReadLimit = 1 << 20

	// defaultWriteTimeout bounds each write to the peer. A peer whose
	// socket does not take a batch within it is dropped as a slow consumer.
	defaultWriteTimeout = 10 * time.Second

	// defaultPingInterval is how often the server pings an idle peer.
	defaultPingInterval = 30 * time.Second

	// defaultSendBuffer bounds the bytes of frames from Conn.Send,
	// Conn.Write and Member.Send waiting to be written to one peer:
	// 256 KiB. Hub messages are read from the hub's shared history and do
	// not count here.
	defaultSendBuffer = 256 << 10

	// maxInflateRatio bounds what a compressed message may inflate to
	// without credit: this many times its compressed size. Inflating
	// costs the server CPU and memory for each byte it produces, so
	// without it a client could make the server inflate a thousand bytes
	// for each byte it sends (a message of zeros compresses that well).
	// Past it a message draws on the credit of its client's address and
	// of all clients (1 MiB and 16 MiB); a message
	// that finds too little left is closed with StatusPolicyViolation.
	maxInflateRatio = 64

	// defaultCloseTimeout bounds the closing handshake: how long the server
	// waits for the peer's close frame after writing its own. The writing
	// of the data queued before the close frame, and of the close frame,
	// is bounded by WriteTimeout; without a write deadline (WriteTimeout
	// negative), this timeout counts from the close and bounds it as well.
	defaultCloseTimeout = 5 * time.Second
)

// readBufferSize is the size of the buffered reader kept per connection for
// frame headers and small payloads. Larger payloads are read directly into
// the message, so a small buffer keeps idle connections cheap.
const readBufferSize = 256

// AcceptOptions configure [Accept] and the connections of a [Hub]. The zero
// value is secure: same-origin only, bounded reads and writes, keep-alive
// on. A nil *AcceptOptions is the zero value.
type AcceptOptions struct {
	// OriginPatterns lists the origins, besides the server's own, whose
	// pages may open a connection: patterns matched with path.Match against
	// the Origin header's host (with port when it has one), such as
	// "example.com", "*.example.com" or "localhost:*", for http and https
	// pages. A request without an Origin header (a Go, Node or command-line
	// client) is always accepted; a browser page from any other origin gets
	// 403 Forbidden. The server's own origin is the request's Host, with
	// default ports filled in (http://example.com is example.com:80).
	//
	// Origins no web page has are refused unless a pattern names them: a
	// scheme other than http and https ("chrome-extension://abcdefgh",
	// matched with its scheme), and "null", the origin of sandboxed frames
	// and local files (allowed by the pattern "null").
	//
	// Browsers send cookies with cross-site WebSocket requests, so a page
	// from an allowed origin can act as the user: allow only origins you
	// trust. "*" allows every origin and disables this protection.
	OriginPatterns []string

	// AllowedHosts lists the host names the server answers to: patterns
	// matched with path.Match against the request's Host header (with port
	// when it has one), such as "example.com" or "*.example.com:8443". A
	// request for another host gets 403 Forbidden: a page whose host name an
	// attacker made resolve to this server (DNS rebinding) is same-origin
	// for its Host, so the origin check alone does not stop it.
	//
	// When it is empty, a request that arrived on a loopback address (a
	// server listening on localhost) is accepted only for loopback names:
	// localhost, *.localhost, 127.0.0.0/8 and [::1], at any port; other
	// requests are accepted for any host. A server on localhost behind a
	// reverse proxy that keeps the public Host must list that name. "*"
	// allows every host.
	AllowedHosts []string

	// Subprotocols lists the subprotocols the server speaks, preferred
	// first. The first one the client also offers is chosen; when the
	// client offers none of them, the connection is accepted without a
	// subprotocol and Conn.Subprotocol returns "".
	Subprotocols []string

	// handshakeTimeout bounds the opening handshake once the handler runs:
	// 10 s when zero, which only the package's tests change.
	handshakeTimeout time.Duration

	// ReadLimit is the largest message accepted, in bytes. Zero means
	// 1 MiB.
	ReadLimit int64

	// WriteTimeout bounds each write. Zero means 10 s;
	// negative means no deadline, as in package sse.
	WriteTimeout time.Duration

	// PingInterval is how often an idle peer is pinged; a pinged peer that
	// stays silent for half of it after the ping was written is dropped
	// with ErrPongTimeout, so a peer that vanishes without closing is
	// dropped within 1.5 PingIntervals.
	// Zero means 30 s; a negative value turns keep-alive off.
	PingInterval time.Duration

	// pongTimeout is how long a pinged peer may stay silent: half of
	// PingInterval when zero, which only the package's tests change.
	pongTimeout time.Duration

	// SendBuffer bounds, in bytes, the frames of Send and Write waiting to
	// be written (and being written) to the peer. Zero means
	// 256 KiB. Past it, Send returns ErrSendBufferFull and Write
	// waits; a single message larger than SendBuffer is accepted when
	// nothing else waits. Control frames are bounded apart: one pong, one
	// ping and the close frame at most.
	SendBuffer int

	// TrustedProxies lists the addresses of the server's own reverse
	// proxies. A request from one of them that carries X-Forwarded-Host
	// (httputil.ReverseProxy's SetXForwarded, Caddy; see
	// examples/PROXIES.md) is checked against AllowedHosts
	// and the same-origin check with that host, the one the browser asked
	// for, instead of its Host header, which a proxy that rewrites Host
	// sets to the backend's. The header is ignored from anyone else. Empty
	// means no proxy is trusted.
	TrustedProxies []netip.Prefix

	// DisableCompression turns off per-message compression. By default a
	// client that offers permessage-deflate (RFC 7692; every browser does)
	// gets it, without context takeover on either side: each message is
	// compressed on its own, no compressor or decompressor is kept by an
	// idle connection, and a Hub compresses a broadcast once for all its
	// connections. Compression costs server CPU per message sent and
	// received; turn it off when messages are small or incompressible, or
	// when a message mixes secrets with text an attacker chooses (the
	// compressed size can reveal the secret).
	DisableCompression bool

	// compressionThreshold is the smallest message payload, in bytes, that
	// is compressed: 512 bytes when zero, which only the package's tests
	// change. Smaller messages, and messages that do not shrink, are sent
	// uncompressed.
	compressionThreshold int

	// Logger receives a record for every upgrade the server cannot make
	// (at Error, naming the cause and the fix), and for handshakes refused
	// for their host or origin (at Warn, naming the fix; at most one
	// record per cause every 10 s, with the number left out). As a Hub's
	// HubOptions.Conn it also receives the Hub's refusals for lack of room
	// and the panics of its hooks. Nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults returns a copy of o with zero fields set to the defaults.
func (o *AcceptOptions) withDefaults() AcceptOptions {
	var c AcceptOptions
	if o != nil {
		c = *o
	}
	if c.handshakeTimeout <= 0 {
		c.handshakeTimeout = defaultHandshakeTimeout
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = defaultReadLimit
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.PingInterval == 0 {
		c.PingInterval = defaultPingInterval
	}
	if c.pongTimeout <= 0 {
		c.pongTimeout = c.PingInterval / 2
	}
	if c.SendBuffer <= 0 {
		c.SendBuffer = defaultSendBuffer
	}
	if c.compressionThreshold <= 0 {
		c.compressionThreshold = defaultCompressionThreshold
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// errForbiddenOrigin is the error of a handshake refused by the origin
// policy; the client got 403 Forbidden.
var errForbiddenOrigin = errors.New("ws: origin not allowed")

// errForbiddenHost is the error of a handshake refused because its Host
// header is not one AllowedHosts allows; the client got 403 Forbidden.
var errForbiddenHost = errors.New("ws: host not allowed")

// errHandshake is wrapped by every other error of a failed handshake; the
// client got an HTTP error status and the connection was closed.
var errHandshake = errors.New("ws: handshake failed")

// Accept upgrades the request to a WebSocket connection with the
// handshake of golang.org/x/net/websocket, after checking the host and
// origin policies. On failure the client has been answered with an HTTP
// error status (403 for a forbidden host or origin, 400 for a request that is not a WebSocket
// handshake, 501 when the connection cannot be hijacked, as with HTTP/2)
// and the error says why.
//
// The caller reads with Conn.Read, sends with Conn.Send from any goroutine,
// and ends with Conn.Close or Conn.CloseNow. Pings, pongs and close frames
// are handled inside Read, so the caller must keep reading: a connection
// nobody reads stops answering the keep-alive and is dropped after
// 1.5 PingIntervals. Accept does not keep the request: read
// what the connection needs from r before or after calling it.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	o := opts.withDefaults()
	return accept(w, r, &o, nil)
}

func accept(w http.ResponseWriter, r *http.Request, o *AcceptOptions, setup func(*Conn)) (*Conn, error) {
	if err := checkRequest(r, o); err != nil {
		http.Error(w, "Forbidden: "+err.Error(), http.StatusForbidden)
		return nil, err
	}
	if err := upgradeRequested(r); err != nil {
		request.Refuse(w, err, http.StatusUpgradeRequired)
		return nil, fmt.Errorf("%w: not a WebSocket upgrade request", errHandshake)
	}
	// The headers set on w before the upgrade (Set-Cookie, say) go with
	// the 101 answer; the WebSocket headers are the handshake's own.
	hdr := w.Header().Clone()
	nc, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		o.Logger.LogAttrs(r.Context(), slog.LevelError,
			"ws: cannot upgrade: the connection cannot be taken over from net/http (an HTTP/2 request, "+
				"or a middleware ResponseWriter wrapper without an Unwrap method); serve WebSockets over "+
				"HTTP/1.1 and give wrappers Unwrap",
			slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr), slog.Any("err", err))
		http.Error(w, "Not Implemented: this server cannot upgrade this connection; its log says why", http.StatusNotImplemented)
		return nil, fmt.Errorf("%w: hijack: %w", errHandshake, err)
	}
	deadline := time.Now().Add(o.handshakeTimeout)
	nc.SetDeadline(deadline)
	// Bound what the kernel holds for a client that does not read (the
	// writes of a resume's replay wait instead of filling a send buffer
	// the kernel grows to megabytes), and for one that sends while the
	// connection is not read (its receive buffer stays small).
	if err := errors.Join(netopt.SetNotSentLowat(nc, netopt.NotSentLowat), netopt.SetReceiveBuffer(nc, netopt.ReceiveBuffer)); err != nil {
		o.Logger.LogAttrs(r.Context(), slog.LevelWarn, "ws: cannot bound what the kernel holds for a connection",
			slog.String("remote", r.RemoteAddr), slog.Any("err", err))
	}

	// Keep what the client sent after its request (frames may follow the
	// handshake at once), and drop net/http's 4 KiB buffers: the connection
	// keeps a small reader and writes through pooled buffers.
	var src io.Reader = nc
	if n := rw.Reader.Buffered(); n > 0 {
		pending, _ := rw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), nc)
	}
	hj := &hijacked{
		conn: noClose{nc},
		rw:   bufio.NewReadWriter(bufio.NewReaderSize(src, readBufferSize), bufio.NewWriterSize(nc, 512)),
	}
	var c *Conn
	var ext string
	var window int
	if !o.DisableCompression {
		ext, window = negotiateDeflate(r.Header)
	}
	// Only an extension the client offered is answered.
	hdr.Del("Sec-WebSocket-Extensions")
	if ext != "" {
		hdr.Set("Sec-WebSocket-Extensions", ext)
	}
	srv := websocket.Server{
		Config: websocket.Config{Header: hdr},
		Handshake: func(cfg *websocket.Config, _ *http.Request) error {
			cfg.Protocol = chooseSubprotocol(cfg.Protocol, o.Subprotocols)
			return nil
		},
		Handler: func(wc *websocket.Conn) {
			var proto string
			if p := wc.Config().Protocol; len(p) == 1 {
				proto = p[0]
			}
			c = newConn(r.Context(), nc, hj.rw.Reader, proto, o)
			c.addr = request.RemoteHost(r)
			c.compress, c.window = ext != "", uint8(window)
		},
	}
	srv.ServeHTTP(hj, r)
	if c == nil {
		// x/net answered with an error status.
		nc.Close()
		return nil, fmt.Errorf("%w: x/net/websocket refused the request", errHandshake)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil || time.Now().After(deadline) {
		nc.Close()
		return nil, fmt.Errorf("%w: handshake timeout", errHandshake)
	}
	if setup != nil {
		setup(c)
	}
	c.start()
	return c, nil
}

// hijacked is the ResponseWriter given to x/net/websocket: its Hijack hands
// over the connection hijacked already, with small buffers.
type hijacked struct {
	conn net.Conn
	rw   *bufio.ReadWriter
}

func (h *hijacked) Header() http.Header         { return http.Header{} }
func (h *hijacked) Write(b []byte) (int, error) { return 0, http.ErrHijacked }
func (h *hijacked) WriteHeader(int)             {}

func (h *hijacked) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, h.rw, nil
}

// noClose keeps x/net from closing the connection when its handler returns:
// the Conn owns it from then on.
type noClose struct{ net.Conn }

func (noClose) Close() error { return nil }

// upgradeRequested returns a *StatusError (426 Upgrade Required) unless r
// asks for a WebSocket upgrade.
func upgradeRequested(r *http.Request) error {
	if headerContains(r.Header, "Connection", "upgrade") && headerContains(r.Header, "Upgrade", "websocket") {
		return nil
	}
	return &StatusError{
		Code:   http.StatusUpgradeRequired,
		Err:    errors.New("this is a WebSocket endpoint: upgrade required"),
		Header: http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}},
	}
}

// headerContains reports whether the comma-separated header name holds
// token, ignoring case.
func headerContains(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkRequest applies the host and origin policies of o to r.
func checkRequest(r *http.Request, o *AcceptOptions) error {
	fr := origin.Forwarded(r, o.TrustedProxies)
	if err := origin.CheckHost(fr, o.AllowedHosts); err != nil {
		err = fmt.Errorf("%w: %w", errForbiddenHost, err)
		origin.LogRefusal(o.Logger, r, origin.HostCause, err)
		return err
	}
	if err := origin.Check(fr, o.OriginPatterns); err != nil {
		err = fmt.Errorf("%w: %w", errForbiddenOrigin, err)
		origin.LogRefusal(o.Logger, r, origin.OriginCause, err)
		return err
	}
	return nil
}

// chooseSubprotocol returns the first of ours that the client offered, as
// x/net wants it: one element, or none.
func chooseSubprotocol(offered, ours []string) []string {
	for _, p := range ours {
		for _, q := range offered {
			if p == q {
				return []string{p}
			}
		}
	}
	return nil
}
