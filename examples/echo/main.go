// Command echo serves a WebSocket echo at /ws: every message a client
// sends comes back as it came, text or binary. It is the target for
// conformance tools such as Autobahn|Testsuite's fuzzing client.
//
//	go run ./examples/echo              # ws://localhost:8082/ws
//	go run ./examples/echo -addr :8082  # on every interface
//	go run ./examples/echo -tls-cert cert.pem -tls-key key.pem  # wss://localhost:8082/ws
//
// The read limit is raised to 16 MiB so that conformance suites' large
// messages pass; every other setting is the ws package's default.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/ws"
)

// readLimit is the largest message echoed.
const readLimit = 16 << 20

// defaultAddr is where the server listens unless -addr says otherwise:
// this machine only, on a port of its own among the examples.
const defaultAddr = "localhost:8082"

func main() {
	addr := flag.String("addr", defaultAddr, "address to listen on; \":8082\" listens on every interface")
	allowedHosts := flag.String("allowed-hosts", "", "host names this server answers to, comma-separated (example.com, *.example.com, example.com:*), for a server behind a proxy that passes the browser's Host on; empty: on loopback, loopback names only")
	flag.Parse()
	srv := newServer(*addr, examplecmd.Hosts(*allowedHosts)...)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("echo", "err", err)
		os.Exit(1)
	}
	slog.Info("listening", "url", examplecmd.ListenURL(examplecmd.Scheme("ws"), *addr, ln)+"/ws", "addr", ln.Addr().String())
	if err := examplecmd.Serve(srv, ln); err != nil {
		slog.Error("echo", "err", err)
		os.Exit(1)
	}
}

// newServer returns the echo server: the handler at /ws, answering to
// allowedHosts (AcceptOptions.AllowedHosts), and a bound on reading
// request headers, which the WebSocket handshake starts with.
func newServer(addr string, allowedHosts ...string) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/ws", Handler(&ws.AcceptOptions{AllowedHosts: allowedHosts}))
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// Handler returns the echo handler. opts may be nil; a zero ReadLimit
// becomes readLimit.
func Handler(opts *ws.AcceptOptions) http.Handler {
	var o ws.AcceptOptions
	if opts != nil {
		o = *opts
	}
	if o.ReadLimit == 0 {
		o.ReadLimit = readLimit
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &o)
		if err != nil {
			return // Accept answered the client
		}
		if err := Echo(c); !errors.As(err, new(*ws.CloseError)) {
			slog.Warn("echo: connection ended", "remote", r.RemoteAddr, "err", err)
		}
	})
}

// Echo sends every message read from c back until c closes, and returns
// why it closed. It writes with Write, which waits while the peer does not
// read: the echo then stops reading too, so a peer that sends without
// reading is held back by its own socket, and the server holds at most one
// message and the send buffer for it.
func Echo(c *ws.Conn) error {
	ctx := context.Background()
	for {
		typ, data, err := c.Read(ctx)
		if err == nil {
			err = c.Write(ctx, typ, data)
		}
		if err != nil {
			c.CloseNow()
			return err
		}
	}
}
