package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/origin"
	"github.com/realtime-go/realtime/internal/wstest"
)

// TestServer runs the echo server as main does, on a port of its own, and
// talks to it with x/net/websocket's client.
func TestServer(t *testing.T) {
	leakcheck.Check(t)
	srv := newServer("127.0.0.1:0")
	if srv.ReadHeaderTimeout <= 0 {
		t.Fatal("server has no ReadHeaderTimeout")
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Shutdown(context.Background())
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	url := "ws://" + ln.Addr().String() + "/ws"
	c, err := websocket.Dial(url, "", "http://"+ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []struct {
		typ  byte
		data []byte
	}{
		{websocket.TextFrame, []byte("hello")},
		{websocket.BinaryFrame, []byte{0, 1, 2, 0xff}},
		{websocket.TextFrame, bytes.Repeat([]byte("big "), 100_000)},
	} {
		c.PayloadType = m.typ
		if _, err := c.Write(m.data); err != nil {
			t.Fatal(err)
		}
		var got []byte
		codec := websocket.Codec{Unmarshal: func(data []byte, typ byte, v any) error {
			if typ != m.typ {
				t.Errorf("echo of type %d came back as %d", m.typ, typ)
			}
			*v.(*[]byte) = data
			return nil
		}}
		if err := codec.Receive(c, &got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, m.data) {
			t.Fatalf("echo of %d bytes came back as %d bytes", len(m.data), len(got))
		}
	}
}

// TestCrossOrigin checks the echo refuses a page of another site.
func TestCrossOrigin(t *testing.T) {
	leakcheck.Check(t)
	srv := newServer("127.0.0.1:0")
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	_, resp, err := wstest.Dial("http://"+ln.Addr().String()+"/ws", http.Header{"Origin": {"https://evil.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

// TestHeaderOnlyFrames opens connections that each send the header of a
// frame announcing the echo's read limit and then hold. Once the server has
// read every header and waits for the payload, its live heap must have
// grown by little more than the bytes received, not by the limit per
// connection.
func TestHeaderOnlyFrames(t *testing.T) {
	leakcheck.Check(t)
	const (
		conns    = 20
		overhead = 16 << 10 // per connection, besides the bytes it sent
	)
	srv := newServer("127.0.0.1:0")
	l, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ln := wstest.Watch(l)
	go srv.Serve(ln)
	defer srv.Close()

	var cs []*wstest.Conn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range conns {
		c, resp, err := wstest.Dial("http://"+l.Addr().String()+"/ws", nil)
		if c == nil {
			t.Fatal(err, resp)
		}
		cs = append(cs, c)
	}
	var base []int64
	for _, c := range cs {
		n, _ := ln.State(c.LocalAddr())
		base = append(base, n)
	}
	before := liveHeap()
	hdr := wstest.Header(true, wstest.OpBinary, readLimit)
	for _, c := range cs {
		if _, err := c.Write(hdr); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < len(cs); {
		if n, waiting := ln.State(cs[i].LocalAddr()); n == base[i]+int64(len(hdr)) && waiting {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection %d: the server did not read the header and wait for more", i)
		}
		time.Sleep(5 * time.Millisecond) // no event to wait on: poll
	}
	after := liveHeap()
	growth := int64(after) - int64(before)
	budget := int64(conns * (len(hdr) + overhead))
	t.Logf("%d headers announcing %d bytes each: live heap grew by %d KiB (budget %d KiB)", conns, readLimit, growth>>10, budget>>10)
	if growth > budget {
		t.Errorf("live heap grew by %d KiB for %d bytes received: over the budget of %d KiB", growth>>10, conns*len(hdr), budget>>10)
	}
}

// liveHeap collects garbage twice (the second empties what sync.Pools
// kept) and returns the bytes of live heap objects.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestDefaultAddr checks the server listens on this machine only unless
// told otherwise, on its own port, and names the URL to open.
func TestDefaultAddr(t *testing.T) {
	host, port, err := net.SplitHostPort(defaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	if !origin.IsLoopbackHost(host) || port != "8082" {
		t.Errorf("default address %q, want a loopback name and port 8082", defaultAddr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	for addr, want := range map[string]string{
		":0":          "localhost:" + p,
		"0.0.0.0:0":   "localhost:" + p,
		"127.0.0.1:0": "127.0.0.1:" + p,
		"[::1]:0":     "[::1]:" + p,
	} {
		if got := examplecmd.ListenURL("http", addr, ln); got != "http://"+want {
			t.Errorf("listenURL for %q = %q, want %q", addr, got, "http://"+want)
		}
	}
}
