// Cluster runs several nodes of one realtime service over NATS JetStream:
// a message published on any node reaches the clients of every node, with
// the same ID everywhere, and a client whose node dies resumes on another.
//
//	cd examples/cluster && go run .     # then open http://localhost:8083
//
// Alone, a node embeds a NATS server with JetStream (its store in a
// temporary folder), which requires a token: the one in
// $REALTIME_NATS_TOKEN, or one the node makes and logs. Three on one
// machine:
//
//	export REALTIME_NATS_TOKEN=$(openssl rand -hex 32)
//	go run . -addr localhost:8083 -name a -nats-listen 127.0.0.1:4222
//	go run . -addr localhost:8084 -name b -nats nats://127.0.0.1:4222
//	go run . -addr localhost:8085 -name c -nats nats://127.0.0.1:4222
//
// Every publish (the page's form, or POST /publish) is stored in one
// stream with a message ID, so a retried publish is stored once. Every node
// reads the stream in order and publishes each message to its own
// sse.Broker (/events) and ws.Hub (/ws) with PublishAt and the stream
// sequence, so the IDs are "<epoch>-<seq>" on every node, the epoch coming
// from the stream's creation time. A client that comes back with the ID of
// the last message it saw, on any node, gets what it missed: from the
// node's own history, or from JetStream when the node started later or
// lags. /healthz says how far the node is behind the stream.
//
// See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/realtime-go/realtime/internal/examplecmd"
)

// defaultAddr is where a node listens unless -addr says otherwise: this
// machine only, on a port of its own among the examples (ticker 8080, chat
// 8081, echo 8082).
const defaultAddr = "localhost:8083"

// publishTokenEnv is the environment variable that holds the publish
// tokens when -publish-token is not given.
const publishTokenEnv = "REALTIME_PUBLISH_TOKEN"

// natsTokenEnv is the environment variable that holds the NATS token when
// -nats-token is not given.
const natsTokenEnv = "REALTIME_NATS_TOKEN"

// defaultNATSListen is where the embedded NATS server listens: this
// machine only, on a port of its own.
const defaultNATSListen = "127.0.0.1:0"

// urlList is a flag that can be repeated and takes comma lists.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, ",") }

func (l *urlList) Set(s string) error {
	for u := range strings.SplitSeq(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			*l = append(*l, u)
		}
	}
	return nil
}

// config is what the flags say.
type config struct {
	addr       string
	natsListen string // the embedded server's address, when nats is empty
	storeDir   string // the embedded server's store; "" for a temporary one
	node       nodeOptions
}

func parseFlags(args []string) (config, error) {
	var c config
	var urls urlList
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", defaultAddr, "HTTP address to listen on")
	fs.Var(&urls, "nats", "NATS server URL of an existing cluster (repeatable, or a comma list); none: embed a NATS server")
	fs.StringVar(&c.natsListen, "nats-listen", defaultNATSListen, "address of the embedded NATS server, for other nodes to join with -nats")
	fs.StringVar(&c.node.NATSToken, "nats-token", "", "token to give NATS, and that the embedded NATS server requires; default $"+natsTokenEnv+", or, for an embedded server, one generated and logged at start")
	fs.StringVar(&c.storeDir, "store", "", "JetStream store folder of the embedded NATS server; empty for a temporary one")
	fs.StringVar(&c.node.Name, "name", "", "node name shown on the page and in /healthz (default: the HTTP address)")
	fs.StringVar(&c.node.Stream.Name, "stream", DefaultStream, "JetStream stream name; its subjects are <stream>.>")
	fs.IntVar(&c.node.Stream.Replicas, "replicas", 1, "replicas of the stream, when this node creates it (3 in a NATS cluster)")
	fs.Int64Var(&c.node.Stream.MaxMsgs, "max-msgs", 0, "messages the stream keeps, when this node creates it; 0 for no bound")
	fs.Int64Var(&c.node.Stream.MaxBytes, "max-bytes", DefaultMaxBytes, "bytes the stream keeps, when this node creates it")
	fs.DurationVar(&c.node.Stream.MaxAge, "max-age", DefaultMaxAge, "how long the stream keeps a message, when this node creates it")
	fs.IntVar(&c.node.Warmup, "warmup", DefaultWarmup, "newest messages a node applies at start, before the live ones")
	fs.BoolVar(&c.node.Filtered, "filtered", false, "apply only the topics this node's clients follow (and, for a while, those they left), instead of the whole stream")
	fs.Uint64Var(&c.node.MaxLag, "max-lag", DefaultMaxLag, "messages behind the stream past which /healthz answers 503")
	fs.DurationVar(&c.node.CatchUpWait, "catch-up-wait", 0, "how long a resume from an ID ahead of this node waits for it (0: the library's default)")
	// Guarding publish: who may publish, for which host names, how much.
	var tokens, hosts urlList
	fs.Var(&tokens, "publish-token", "token POST /publish takes (Authorization: Bearer TOKEN; repeatable, or a comma list, one per publisher); default $"+publishTokenEnv+", or one generated and logged at start")
	fs.Var(&hosts, "allowed-hosts", "host names the node answers to (example.com, *.example.com, example.com:*; a comma list); empty: on loopback, loopback names only")
	fs.IntVar(&c.node.MaxTopics, "max-topics", DefaultMaxTopics, "topics the nodes hold history for; past it, publishing to a new topic gets 503")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if len(tokens) == 0 {
		tokens.Set(os.Getenv(publishTokenEnv))
	}
	if c.node.NATSToken == "" {
		c.node.NATSToken = os.Getenv(natsTokenEnv)
	}
	c.node.PublishTokens, c.node.AllowedHosts = tokens, hosts
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.node.NATS = urls
	return c, nil
}

func main() {
	c, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, nil); err != nil {
		slog.Error("cluster", "err", err)
		os.Exit(1)
	}
}

// run serves one node until ctx ends or the node fails. ready, when set,
// is called with the node's HTTP address once it serves.
func run(ctx context.Context, c config, ready func(addr string)) error {
	// The URL to open comes first in the log, as in the other examples;
	// the socket takes connections from now on, answered once the node
	// serves.
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	slog.Info("listening", "url", examplecmd.ListenURL("http", c.addr, ln)+"/")
	var closeEmbedded func()
	if len(c.node.NATS) == 0 {
		dir := c.storeDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "realtime-cluster-")
			if err != nil {
				ln.Close()
				return err
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		if c.node.NATSToken == "" {
			c.node.NATSToken = newToken()
			slog.Info("NATS token generated: give it to the other nodes with -nats-token", "token", c.node.NATSToken)
		}
		ns, err := startEmbedded(c.natsListen, dir, c.node.NATSToken)
		if err != nil {
			ln.Close()
			return err
		}
		closeEmbedded = func() { ns.Shutdown(); ns.WaitForShutdown() }
		defer func() {
			if closeEmbedded != nil {
				closeEmbedded()
			}
		}()
		c.node.NATS = []string{ns.ClientURL()}
		slog.Info("embedded NATS with JetStream", "url", ns.ClientURL(), "store", dir)
	}

	if len(c.node.PublishTokens) == 0 {
		tok := newToken()
		c.node.PublishTokens = []string{tok}
		slog.Info("publish token generated: give it to publishers, and to the other nodes with -publish-token", "token", tok)
	}
	n, err := startNode(c.node, ln)
	if err != nil {
		ln.Close()
		return err
	}
	slog.Info("serving", "url", examplecmd.ListenURL("http", c.addr, ln)+"/", "node", n.name, "nats", strings.Join(c.node.NATS, ","))
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case <-n.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
	defer cancel()
	err = n.Shutdown(sctx)
	if closeEmbedded != nil {
		closeEmbedded()
		closeEmbedded = nil
	}
	bs, hs := n.broker.Stats(), n.hub.Stats()
	slog.Info("stopped", "node", n.name, "applied", n.applied.Load(),
		"sse_streams", bs.Opened, "sse_replayed", bs.Replayed, "sse_gaps", bs.Gaps,
		"ws_connections", hs.Opened, "ws_replayed", hs.Replayed, "ws_gaps", hs.Gaps)
	return errors.Join(n.Err(), err)
}
