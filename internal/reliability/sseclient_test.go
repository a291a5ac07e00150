package reliability

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/realtime-go/realtime/sse"
)

// An sseConn is one event stream read over a raw TCP connection, so that
// tests control the socket: read slowly, stop reading, cut it.
type sseConn struct {
	nc   net.Conn
	resp *http.Response
	rd   *sse.Reader
}

// dialSSE opens the stream at target (a path with its query) at addr.
// When the server answers anything but 200 the response is returned, with
// its body read, and a nil connection.
func dialSSE(d *net.Dialer, addr, target string, h http.Header) (*sseConn, *http.Response, error) {
	if d == nil {
		d = &net.Dialer{Timeout: waitTimeout}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n", target, addr)
	for name, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", name, v)
		}
	}
	req.WriteString("\r\n")
	nc.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(nc, req.String()); err != nil {
		nc.Close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(nc, 1024), nil)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		nc.Close()
		return nil, resp, nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		nc.Close()
		return nil, nil, fmt.Errorf("Content-Type %q", ct)
	}
	nc.SetDeadline(time.Time{})
	return &sseConn{nc: nc, resp: resp, rd: sse.NewReader(resp.Body)}, resp, nil
}

// Next returns the next event.
func (c *sseConn) Next() (sse.Event, error) { return c.rd.Next() }

// Close closes the TCP connection.
func (c *sseConn) Close() error { return c.nc.Close() }
