// Package servers sets up each library under test as a broadcast server the
// same way its own documentation and examples do, behind one small
// interface the benchmark drives: serve subscribers on a listener, publish
// a message to all of them, count them.
package servers

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Server is one library set up to broadcast benchmark messages on one
// topic.
type Server interface {
	// Serve accepts subscribers on ln until Close.
	Serve(ln net.Listener) error
	// Publish sends msg to every subscriber. msg is freshly allocated and
	// the library may keep it.
	Publish(msg []byte) error
	// Subscribers returns how many subscribers would get a message
	// published now.
	Subscribers() int
	// Close stops the server.
	Close() error
}

// TopicServer is a Server whose subscribers choose a topic with the topic
// parameter of their request path (Lib.Topics).
type TopicServer interface {
	Server
	// PublishTopic sends msg to every subscriber of topic; Publish is
	// PublishTopic("bench", msg).
	PublishTopic(topic string, msg []byte) error
}

// Options are the settings a benchmark run may change.
type Options struct {
	// Heartbeat is the keep-alive interval (SSE comments, WebSocket pings)
	// for the servers that have one; zero keeps each library's default.
	Heartbeat time.Duration

	// MaxClients and MaxClientsPerAddr, when not zero, are our servers'
	// options of those names (where the revision has them): the attack
	// scenarios set them as the examples do.
	MaxClients, MaxClientsPerAddr int

	// TLS serves subscribers over TLS with a certificate made at start,
	// with HTTP/2 offered (the net/http servers serve it; the others do
	// not speak TLS at all).
	TLS bool
}

// Lib describes one library under test.
type Lib struct {
	Name string // short name used on the command line and in tables
	Kind string // "sse" or "ws": what the load client speaks
	Path string // request path a subscriber GETs
	// Topics says the server is a TopicServer and Path ends in
	// "topic=bench", which a subscriber of another topic replaces.
	Topics bool
	Title  string // what the table shows
	New    func(Options) (Server, error)
}

var registry []Lib

func register(l Lib) { registry = append(registry, l) }

// Libs returns every library, SSE ones first, each group with ours first
// and the floors (handler, hijacked, raw) next.
func Libs() []Lib {
	order := []string{"ours-sse", "ours-sse-takeover", "handler-sse", "hijack-sse", "raw-sse", "r3labs", "tmaxmax", "ours-ws", "hijack-ws", "raw-ws", "gorilla", "coder", "gws", "xnet"}
	out := slices.Clone(registry)
	slices.SortStableFunc(out, func(a, b Lib) int {
		ia, ib := slices.Index(order, a.Name), slices.Index(order, b.Name)
		if ia < 0 {
			ia = len(order)
		}
		if ib < 0 {
			ib = len(order)
		}
		return ia - ib
	})
	return out
}

// TopicPath returns the path a subscriber of topic GETs from l, which has
// Topics set.
func (l Lib) TopicPath(topic string) string {
	return strings.TrimSuffix(l.Path, "topic=bench") + "topic=" + url.QueryEscape(topic)
}

// Lookup returns the library called name.
func Lookup(name string) (Lib, error) {
	for _, l := range registry {
		if l.Name == name {
			return l, nil
		}
	}
	return Lib{}, fmt.Errorf("servers: no library %q", name)
}
