package reliability

import (
	"fmt"
	"net"
	"net/http"

	"github.com/realtime-go/realtime/sse"
)

// An sseConn is one event stream read over a raw TCP connection, so that
// tests control the socket: read slowly, stop reading, cut it.
type sseConn struct {
	nc net.Conn
	rd *sse.Reader
}

// dialSSE opens the stream at target (a path with its query) at addr.
// When the server answers anything but 200 the response is returned, with
// its body read, and a nil connection.
func dialSSE(d *net.Dialer, addr, target string, h http.Header) (*sseConn, *http.Response, error) {
	nc, _, resp, err := openRequest(d, addr, target, "Accept: text/event-stream\r\n", h, http.StatusOK)
	if nc == nil {
		return nil, resp, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		nc.Close()
		return nil, nil, fmt.Errorf("Content-Type %q", ct)
	}
	return &sseConn{nc: nc, rd: sse.NewReader(resp.Body)}, resp, nil
}

// Next returns the next event.
func (c *sseConn) Next() (sse.Event, error) { return c.rd.Next() }

// Close closes the TCP connection.
func (c *sseConn) Close() error { return c.nc.Close() }

// readSSE reads c into tl until c ends, and returns the error that ended it.
func readSSE(c *sseConn, tl *tally) error {
	for {
		ev, err := c.Next()
		if err != nil {
			return err
		}
		tl.add(ev.ID, ev.Data)
	}
}
