//go:build linux

package main

import (
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/netopt"
)

// TestStreamBoundsKernel: a node's server sets sse.ConnContext, so that an
// SSE stream sets TCP_NOTSENT_LOWAT on its connection, as the Hub's
// connections do: a client that resumes and never reads makes the kernel
// hold about netopt.NotSentLowat, not a send buffer Linux grows to 4 MiB.
func TestStreamBoundsKernel(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	n := startTestNode(t, "a", ns.url(), nil)
	c := followSSE(t, n.url, []string{"news"}, n.epoch+"-0")
	if code, body, _ := postPublish(t, n, "news", "x", "Authorization", "Bearer "+testToken); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	c.waitCount(t, 1)
	n.ln.mu.Lock()
	defer n.ln.mu.Unlock()
	bounded := 0
	for _, conn := range n.ln.conns {
		if v, err := netopt.GetNotSentLowat(conn); err == nil && v == netopt.NotSentLowat {
			bounded++
		}
	}
	if bounded == 0 {
		t.Errorf("none of the node's %d connections (an SSE stream, a publish) has TCP_NOTSENT_LOWAT %d", len(n.ln.conns), netopt.NotSentLowat)
	}
}
