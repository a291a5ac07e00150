//go:build linux

package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/netopt"
)

// TestFeedBoundsKernel: the server run starts sets sse.ConnContext, so a
// feed stream sets TCP_NOTSENT_LOWAT on its connection, as the hub's
// connections do: a page that resumes with the backlog and never reads
// makes the kernel hold about netopt.NotSentLowat, not a send buffer Linux
// grows to 4 MiB.
func TestFeedBoundsKernel(t *testing.T) {
	leakcheck.Check(t)
	c := newChat()
	srv := newServer(c)
	ts := httptest.NewUnstartedServer(srv.Handler)
	ts.Config = srv
	var mu sync.Mutex
	var conns []net.Conn
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}
	ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		c.shutdown(ctx)
		ts.Close()
	})
	feed := openFeed(t, ts, "topic=general")
	c.publishRoom("general", event{Type: "message", Room: "general", From: "ann", Text: "hi"})
	if _, err := feed.Next(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1", len(conns))
	}
	if n, err := netopt.GetNotSentLowat(conns[0]); err != nil || n != netopt.NotSentLowat {
		t.Errorf("TCP_NOTSENT_LOWAT of a feed stream's connection = %d, %v; want %d", n, err, netopt.NotSentLowat)
	}
}
