package reliability

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestRequestsParsedInPart: requests whose query or headers net/http and
// net/url parse only in part, or accept but that are too large to keep for
// a stream's life. r.URL.Query() drops what it cannot parse and says so
// only in an error it does not return: a bad %-escape, a semicolon or more
// than 10,000 parameters turned into a stream with fewer topics than the
// client named, or none. Each is refused, by the Broker and by the Hub,
// with a 4xx whose body names what is wrong, over a real socket.
func TestRequestsParsedInPart(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	r := startRig(t, rigOptions{})
	cases := []struct {
		name   string
		query  string
		header string // extra header lines, each ending in CRLF
		status int
		says   string // in the body
	}{
		{"bad escape", "topic=a&topic=b%zz", "", 400, `invalid URL escape "%zz"`},
		{"semicolon", "topic=a;topic=b", "", 400, "semicolon"},
		{"semicolon after a good parameter", "topic=a&topic=b;c", "", 400, "semicolon"},
		{"more parameters than net/url reads", "topic=a" + strings.Repeat("&x", 10000), "", 400, "10001 parameters, at most 10000"},
		{"topic named twice", "topic=a&topic=b&topic=a", "", 400, `topic "a" named twice`},
		{"lastEventId twice", "topic=a&lastEventId=E-1&lastEventId=E-2", "", 400, "lastEventId given 2 times"},
		{"Last-Event-ID twice", "topic=a", "Last-Event-ID: E-1\r\nLast-Event-ID: E-2\r\n", 400, "Last-Event-ID given 2 times"},
		{"headers under net/http's bound but too large to keep", "topic=a", "Cookie: " + strings.Repeat("c", 40<<10) + "\r\nX-More: " + strings.Repeat("m", 30<<10) + "\r\n", 431, "at most 65536"},
		{"target too large to keep", "topic=a&x=" + strings.Repeat("q", 70<<10), "", 414, "at most 65536"},
	}
	for _, c := range cases {
		for _, path := range []string{"/events", "/ws"} {
			t.Run(c.name+" "+path, func(t *testing.T) {
				head := fmt.Sprintf("GET %s?%s HTTP/1.1\r\nHost: %s\r\n", path, c.query, r.addr)
				if path == "/ws" {
					head += upgradeHeaders
				}
				status, body, err := requestHead(r.addr, head+c.header+"\r\n")
				if err != nil {
					t.Fatal(err)
				}
				if status != c.status || !strings.Contains(body, c.says) {
					t.Errorf("status %d, body %q; want %d naming %q", status, body, c.status, c.says)
				}
			})
		}
	}
	// A well-formed request still gets its stream.
	for _, path := range []string{"/events", "/ws"} {
		head := fmt.Sprintf("GET %s?topic=a&topic=b%%2Fc&lastEventId= HTTP/1.1\r\nHost: %s\r\n", path, r.addr)
		want := 200
		if path == "/ws" {
			head += upgradeHeaders
			want = 101
		}
		status, body, err := requestHead(r.addr, head+"\r\n")
		if err != nil || status != want {
			t.Errorf("%s: well-formed request: status %d %q, %v; want %d", path, status, body, err, want)
		}
	}
}

// requestHead sends req on a new connection to addr and returns the
// status of the response, and its body when it is an error (the body of a
// stream is not read), then closes the connection.
func requestHead(addr, req string) (int, string, error) {
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return 0, "", err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(waitTimeout))
	go io.WriteString(nc, req) // fails when the server closes first
	resp, err := http.ReadResponse(bufio.NewReader(nc), &http.Request{Method: http.MethodGet})
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode < 400 {
		return resp.StatusCode, "", nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body), err
}
