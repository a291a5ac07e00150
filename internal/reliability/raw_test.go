package reliability

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// rawRequest sends req as it is to addr and returns the response, with its
// body read. The request is written while the response is read, so that a
// server that answers before reading it all (431) is heard.
func rawRequest(addr, req string) (*http.Response, error) {
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(waitTimeout))
	go io.WriteString(nc, req) // fails when the server closes first
	method, _, _ := strings.Cut(req, " ")
	resp, err := http.ReadResponse(bufio.NewReader(nc), &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp, nil
}

// upgradeHeaders are the headers of a valid WebSocket handshake.
const upgradeHeaders = "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

// openRequest dials addr with d (nil for one bounded by waitTimeout), sends
// the GET request for target with the lines of head (each ending in CRLF)
// and the headers h, and reads the response head. When the status is want
// it returns the connection, without deadlines, and the reader the response
// body continues on. Otherwise it closes the connection and returns the
// response, with its body read, and a nil connection and error.
func openRequest(d *net.Dialer, addr, target, head string, h http.Header, want int) (net.Conn, *bufio.Reader, *http.Response, error) {
	if d == nil {
		d = &net.Dialer{Timeout: waitTimeout}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n%s", target, addr, head)
	for name, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", name, v)
		}
	}
	req.WriteString("\r\n")
	nc.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(nc, req.String()); err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	br := bufio.NewReaderSize(nc, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, nil, fmt.Errorf("response: %w", err)
	}
	if resp.StatusCode != want {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		nc.Close()
		return nil, nil, resp, nil
	}
	nc.SetDeadline(time.Time{})
	return nc, br, resp, nil
}
