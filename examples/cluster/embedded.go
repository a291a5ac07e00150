package main

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embeddedReadyTimeout bounds how long an embedded NATS server may take to
// accept connections once started.
const embeddedReadyTimeout = 10 * time.Second

// startEmbedded starts a NATS server with JetStream in this process,
// listening on addr ("host:port"; port 0 for any free one) and keeping its
// store in storeDir. With a token, it accepts only clients that give it
// (-nats-token): without one, anyone who reaches its port could write to
// the stream around /publish, or delete it. Several nodes started with its
// URL (-nats) form one cluster: this one is only the way to need nothing
// else to start.
func startEmbedded(addr, storeDir, token string) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		ServerName:    "realtime-embedded",
		Host:          host,
		Port:          port,
		JetStream:     true,
		StoreDir:      storeDir,
		Authorization: token,
		NoLog:         true,
		NoSigs:        true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(embeddedReadyTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats: not ready within %v", embeddedReadyTimeout)
	}
	return s, nil
}
