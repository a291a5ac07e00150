package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/internal/leakcheck"
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
