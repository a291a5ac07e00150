package main

import (
	"errors"
	"net"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// An embedded NATS server started with a token refuses a client that does
// not give it, a node without it among them; a node with it serves.
func TestEmbeddedNATSToken(t *testing.T) {
	leakcheck.Check(t)
	const token = "test-nats-token"
	s, err := startEmbedded("127.0.0.1:0", t.TempDir(), token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() }) // after the node's
	url := s.ClientURL()

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("a client without the token connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("a client without the token: %v, want %v", err, nats.ErrAuthorization)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := startNode(nodeOptions{Name: "no-token", NATS: []string{url}, Stream: streamOptions{Name: testStream}}, ln); err == nil {
		n.cancel()
		n.closeNATS()
		t.Fatal("a node without the token started")
	}
	ln.Close()
	a := startTestNode(t, "a", url, func(o *nodeOptions) { o.NATSToken = token })
	a.waitReady(t)
}
