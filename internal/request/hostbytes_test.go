package request

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestCheckCountsHost: the Host header counts against MaxRequestBytes as
// every other field does. net/http moves it out of Request.Header into
// Request.Host, and a loopback name (a subdomain of localhost) or a host
// a pattern such as "*.example.com" allows can be near net/http's 1 MiB
// bound: a stream kept it for its life, past the 64 KiB a client may make
// the server hold.
func TestCheckCountsHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := Check(r); err != nil {
			Refuse(w, err, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		host string
		want int
	}{
		{"localhost", http.StatusNoContent},
		{strings.Repeat("a", MaxRequestBytes) + ".localhost", http.StatusRequestHeaderFieldsTooLarge},
		{strings.Repeat("a", 900<<10) + ".example.com", http.StatusRequestHeaderFieldsTooLarge},
	} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "GET /events?topic=a HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tc.host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatalf("Host of %d bytes: %v", len(tc.host), err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("Host of %d bytes: status %d, want %d", len(tc.host), resp.StatusCode, tc.want)
		}
	}
}
