// Ticker serves a page of stock prices that move live, over Server-Sent
// Events.
//
//	go run ./examples/ticker            # then open http://localhost:8080
//
// A simulated market moves six prices every -every and publishes each
// symbol's price to its own topic of an [sse.Broker]. The page at / opens
// one EventSource on /events?topic=ACME&topic=GLOBEX&... for the symbols
// picked. When the connection drops, the browser reconnects by itself and
// sends the ID of the last event it saw; the Broker replays what the page
// missed, or tells it about a gap when its history cannot.
//
// On SIGINT or SIGTERM the server saves its history and prices to -state,
// and loads them at start, so that a restart loses no event: pages resume
// where they left off.
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
	"sync"
	"syscall"
	"time"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/sse"
)

// shutdownTimeout bounds the graceful shutdown.
const shutdownTimeout = 5 * time.Second

// defaultAddr is where the server listens unless -addr says otherwise:
// this machine only, on a port of its own among the examples.
const defaultAddr = "localhost:8080"

func main() {
	addr := flag.String("addr", defaultAddr, "address to listen on; \":8080\" listens on every interface")
	state := flag.String("state", defaultState(),
		"file that keeps prices and event history across restarts; empty for none")
	every := flag.Duration("every", 500*time.Millisecond, "time between price moves")
	allowedHosts := flag.String("allowed-hosts", "", "host names this server answers to, comma-separated (example.com, *.example.com, example.com:*), for a server behind a proxy that passes the browser's Host on; empty: on loopback, loopback names only")
	trustedProxies := flag.String("trusted-proxies", "", "addresses of this server's own reverse proxies, comma-separated (127.0.0.1, 10.0.0.0/8): a stream from one counts under the last X-Forwarded-For entry, and its X-Forwarded-Host is the host checked; empty: none")
	flag.Parse()
	trusted, err := examplecmd.Prefixes(*trustedProxies)
	if err != nil {
		slog.Error("ticker", "err", err)
		os.Exit(2)
	}
	if err := run(*addr, *state, *every, examplecmd.Hosts(*allowedHosts), trusted); err != nil {
		slog.Error("ticker", "err", err)
		os.Exit(1)
	}
}

func run(addr, state string, every time.Duration, allowedHosts []string, trusted []netip.Prefix) error {
	if every <= 0 {
		return errors.New("-every must be positive")
	}
	market := newMarket()
	broker := sse.NewBroker(brokerOptions(market, trusted, allowedHosts...))
	if state != "" {
		if err := loadState(state, market, broker); err != nil {
			return err
		}
	}

	srv := &http.Server{
		Handler:           newHandler(market, broker),
		ReadHeaderTimeout: 5 * time.Second,
		ConnContext:       sse.ConnContext, // bounds what the kernel holds for a stream that does not read
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	slog.Info("listening", "url", examplecmd.ListenURL(examplecmd.Scheme("http"), addr, ln)+"/", "addr", ln.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { market.run(ctx, broker, every) })
	serveErr := make(chan error, 1)
	go func() { serveErr <- examplecmd.Serve(srv, ln) }()

	select {
	case err := <-serveErr:
		stop()
		wg.Wait()
		return err
	case <-ctx.Done():
	}

	// Stop publishing, keep what was published, then end the streams (the
	// pages reconnect to the next server) and the server.
	wg.Wait()
	var errs []error
	if state != "" {
		errs = append(errs, saveState(state, market, broker))
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs = append(errs, broker.Shutdown(sctx), srv.Shutdown(sctx))
	st := broker.Stats()
	slog.Info("stopped", "published", st.Published, "replayed", st.Replayed, "gaps", st.Gaps, "streams", st.Opened)
	return errors.Join(errs...)
}
