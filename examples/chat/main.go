// Chat is a chat server with rooms, direct messages and a read-only live
// feed: the example where the ws and sse packages meet.
//
//	go run ./examples/chat              # then open http://localhost:8081
//
// The page at / talks JSON over a WebSocket at /ws (see README.md for the
// messages), using the reconnecting client the ws package serves at
// /ws/client.js. Every room message is also published to an sse.Broker, so
// /feed?room=general can follow a room with nothing but EventSource, at
// /events?topic=general.
//
// On SIGINT or SIGTERM the server saves the history of both to -state and
// loads it at start, so pages resume after a restart without losing or
// repeating a message.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/sse"
)

// shutdownTimeout bounds the graceful shutdown.
const shutdownTimeout = 5 * time.Second

// defaultAddr is where the server listens unless -addr says otherwise:
// this machine only, on a port of its own among the examples.
const defaultAddr = "localhost:8081"

func main() {
	addr := flag.String("addr", defaultAddr, "address to listen on; \":8081\" listens on every interface")
	state := flag.String("state", defaultState(),
		"file that keeps the message history across restarts; empty for none")
	allowedHosts := flag.String("allowed-hosts", "", "host names this server answers to, comma-separated (example.com, *.example.com, example.com:*), for a server behind a proxy that passes the browser's Host on; empty: on loopback, loopback names only")
	trustedProxies := flag.String("trusted-proxies", "", "addresses of this server's own reverse proxies, comma-separated (127.0.0.1, 10.0.0.0/8): a request from one counts under the last X-Forwarded-For entry, and its X-Forwarded-Host is the host checked; empty: none")
	flag.Parse()
	trusted, err := examplecmd.Prefixes(*trustedProxies)
	if err != nil {
		slog.Error("chat", "err", err)
		os.Exit(2)
	}
	if err := run(*addr, *state, examplecmd.Hosts(*allowedHosts), trusted); err != nil {
		slog.Error("chat", "err", err)
		os.Exit(1)
	}
}

func run(addr, state string, allowedHosts []string, trusted []netip.Prefix) error {
	c := newChatBehind(trusted, allowedHosts...)
	if state != "" {
		loadState(state, c)
	}
	srv := newServer(c)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	slog.Info("listening", "url", examplecmd.ListenURL(examplecmd.Scheme("http"), addr, ln)+"/", "addr", ln.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- examplecmd.Serve(srv, ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	// Close the connections (pages reconnect to the next server), then keep
	// the history they will resume from.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs := []error{c.shutdown(sctx), srv.Shutdown(sctx)}
	if state != "" {
		errs = append(errs, saveState(state, c))
	}
	ws, feed := c.hub.Stats(), c.feed.Stats()
	slog.Info("stopped", "connections", ws.Opened, "received", ws.Received, "published", ws.Published,
		"replayed", ws.Replayed, "gaps", ws.Gaps, "feeds", feed.Opened)
	return errors.Join(errs...)
}

// newServer returns the HTTP server of c.
func newServer(c *chat) *http.Server {
	return &http.Server{
		Handler:           newHandler(c),
		ReadHeaderTimeout: 5 * time.Second,
		ConnContext:       sse.ConnContext, // bounds what the kernel holds for a feed stream that does not read
	}
}
