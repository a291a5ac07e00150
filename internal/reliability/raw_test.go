package reliability

import (
	"bufio"
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
