package main

import (
	"testing"

	"golang.org/x/net/websocket"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestTLS: with -tls-cert and -tls-key the echo serves wss.
func TestTLS(t *testing.T) {
	leakcheck.Check(t)
	conf := withTLS(t)
	addr := serveOnLoopback(t, newServer("").Handler)
	cfg, err := websocket.NewConfig("wss://"+addr+"/ws", "https://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TlsConfig = conf.Clone()
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := websocket.Message.Send(conn, "over TLS"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := websocket.Message.Receive(conn, &got); err != nil || got != "over TLS" {
		t.Errorf("echo over TLS: %q, %v", got, err)
	}
	if examplecmd.Scheme("ws") != "wss" {
		t.Errorf("the listening URL's scheme is %s", examplecmd.Scheme("ws"))
	}
}
