package compat

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/realtime-go/realtime/internal/wstest"
	"github.com/realtime-go/realtime/sse"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// lazyReader opens its reader on the first Read, so that a decoder that
// reads a header does not block before the stream sends anything.
type lazyReader struct {
	open func() (io.Reader, error)
	r    io.Reader
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.r == nil {
		r, err := l.open()
		if err != nil {
			return 0, err
		}
		l.r = r
	}
	return l.r.Read(p)
}

// An sseStream is one event stream read the way a browser reads it: one
// connection, no reconnect, the body decoded as its Content-Encoding says.
type sseStream struct {
	resp    *http.Response
	gotHead time.Time // when the response head arrived
	raw     *countingReader
	rd      *sse.Reader
	cancel  context.CancelFunc
}

// openSSE sends the request a browser's EventSource sends and returns the
// response, whatever its status. The stream is cut after waitBound*3 at
// the latest, so that no test hangs.
func openSSE(c *http.Client, url string) (*sseStream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitBound)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	// Set by hand, so that the transport leaves the body as it came.
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &sseStream{resp: resp, gotHead: time.Now(), raw: &countingReader{r: resp.Body}, cancel: cancel}
	var body io.Reader = s.raw
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "":
	case "gzip":
		body = &lazyReader{open: func() (io.Reader, error) { return gzip.NewReader(s.raw) }}
	case "deflate":
		body = flate.NewReader(s.raw)
	default:
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("response with Content-Encoding %q, which a browser asking for it would decode and this client cannot", enc)
	}
	s.rd = sse.NewReader(body)
	return s, nil
}

// close ends the stream from the client's side.
func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event.
func (s *sseStream) next() (sse.Event, error) { return s.rd.Next() }

// rest reads the stream to its end and returns the events it still
// carried and the error that ended it (io.EOF for a clean end).
func (s *sseStream) rest() ([]sse.Event, error) {
	var evs []sse.Event
	for {
		e, err := s.rd.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, e)
	}
}

// dialWS opens a WebSocket connection to path on the rig's front server
// as a browser page of origin does: over TLS (HTTP/1.1) when the server
// has TLS. It returns the response for any status; the Conn is nil unless
// the status is 101.
func (r *rig) dialWS(path, origin string) (*wstest.Conn, *http.Response, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(r.front.URL, "https://"), "http://")
	var nc net.Conn
	var err error
	d := &net.Dialer{Timeout: waitBound}
	if r.front.TLS != nil {
		nc, err = tls.DialWithDialer(d, "tcp", host, r.tlsConfig())
	} else {
		nc, err = d.Dial("tcp", host)
	}
	if err != nil {
		return nil, nil, err
	}
	var kb [16]byte
	rand.Read(kb[:])
	key := base64.StdEncoding.EncodeToString(kb[:])
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, host)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	if origin != "" {
		fmt.Fprintf(&b, "Origin: %s\r\n", origin)
	}
	b.WriteString("\r\n")
	nc.SetDeadline(time.Now().Add(waitBound))
	if _, err := io.WriteString(nc, b.String()); err != nil {
		nc.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, resp.Body)
		nc.Close()
		return nil, resp, nil
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		nc.Close()
		return nil, resp, fmt.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	nc.SetDeadline(time.Now().Add(3 * waitBound)) // no test hangs
	return &wstest.Conn{Conn: nc, R: br, Response: resp}, resp, nil
}

// readClose reads until a close frame, answers it as a browser does, and
// returns its code. Data messages before it are returned too.
func readClose(c *wstest.Conn) (code int, msgs []string, err error) {
	for {
		_, data, err := c.ReadMessage()
		var cf *wstest.CloseFrame
		if errors.As(err, &cf) {
			// A browser answers the close frame, then closes the
			// connection once the server has closed its side.
			c.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(uint16(cf.Code), "")))
			err := c.ExpectEOF()
			c.Close()
			return cf.Code, msgs, err
		}
		if err != nil {
			return 0, msgs, err
		}
		msgs = append(msgs, string(data))
	}
}
