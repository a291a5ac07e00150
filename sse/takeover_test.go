//go:build linux

package sse

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// readSyscalls returns how many read system calls the process has made
// (syscr in /proc/self/io).
func readSyscalls(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no read system call count: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no syscr in /proc/self/io")
	return 0
}

// TestTakeOverDropsUploadsInLargeReads: what a client uploads to a
// taken-over stream is read and dropped in large reads, not 16 bytes at a
// time: 4 MiB cost 262,144 read system calls.
func TestTakeOverDropsUploadsInLargeReads(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{TakeOver: true})
	ts, _ := newServer(t, b, false)
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(conn, "GET /?topic=a HTTP/1.1\r\nHost: "+ts.Listener.Addr().String()+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("response %v, %v", resp, err)
	}

	const upload = 4 << 20
	before := readSyscalls(t)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for sent := 0; sent < upload; sent += len(chunk) {
		if _, err := conn.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// The stream ends when the client closes its side, once the server
	// read everything before it.
	conn.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("waiting for the stream to end: %v", err)
	}
	reads := readSyscalls(t) - before
	t.Logf("%d read system calls for %d bytes uploaded", reads, upload)
	if reads > upload/1024 {
		t.Fatalf("%d read system calls for %d bytes uploaded, want at most one per KiB", reads, upload)
	}
}
