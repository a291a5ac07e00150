// Command echo serves a WebSocket echo at /ws: every message a client
// sends comes back as it came, text or binary. It is the target for
// conformance tools such as Autobahn|Testsuite's fuzzing client.
//
//	go run ./examples/echo -addr :8080
//
// The read limit is raised to 16 MiB so that conformance suites' large
// messages pass; every other setting is the ws package's default.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/realtime-go/realtime/ws"
)

// readLimit is the largest message echoed.
const readLimit = 16 << 20

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	flag.Parse()
	srv := newServer(*addr)
	log.Printf("echo: serving ws://%s/ws", *addr)
	log.Fatal(srv.ListenAndServe())
}

// newServer returns the echo server: the handler at /ws, and a bound on
// reading request headers, which the WebSocket handshake starts with.
func newServer(addr string) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/ws", Handler(nil))
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
		Echo(c)
	})
}

// Echo sends every message read from c back until c closes. It writes with
// Write, which waits while the peer does not read: the echo then stops
// reading too, so a peer that sends without reading is held back by its
// own socket, and the server holds at most one message and the send
// buffer for it.
func Echo(c *ws.Conn) {
	ctx := context.Background()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			if !errors.As(err, new(*ws.CloseError)) {
				log.Printf("echo: %v", err)
			}
			c.CloseNow()
			return
		}
		if err := c.Write(ctx, typ, data); err != nil {
			c.CloseNow()
			return
		}
	}
}
