package servers

import (
	"cmp"
	"net"
	"net/http"

	"github.com/realtime-go/realtime/sse"
)

// Ours, SSE: an sse.Broker on a mux at /events, subscribers choosing the
// topic with ?topic=bench, Publish of an sse.Event. Default options (each
// stream lives in its handler) except the heartbeat when the benchmark
// sets one; ours-sse-takeover sets TakeOver, which takes HTTP/1.x
// connections over from net/http (what every stream did before it was an
// option).
func init() {
	register(Lib{Name: "ours-sse", Kind: "sse", Path: "/events?topic=bench", Topics: true, Title: "**realtime/sse (ours)**",
		New: func(o Options) (Server, error) { return newOursSSE(o, false), nil }})
	register(Lib{Name: "ours-sse-takeover", Kind: "sse", Path: "/events?topic=bench", Topics: true, Title: "realtime/sse, TakeOver",
		New: func(o Options) (Server, error) { return newOursSSE(o, true), nil }})
}

type oursSSE struct {
	b    *sse.Broker
	ln   net.Listener
	subs *subscriberCount
}

func newOursSSE(o Options, takeOver bool) *oursSSE {
	opts := sse.BrokerOptions{Heartbeat: o.Heartbeat}
	setOption(&opts, cmp.Or(o.MaxClients, oursMaxClients), "MaxClients", "MaxSubscribers")
	setOption(&opts, o.MaxClientsPerAddr, "MaxClientsPerAddr")
	if takeOver {
		setOption(&opts, 1, "TakeOver")
	}
	b := sse.NewBroker(opts)
	return &oursSSE{b: b, subs: newSubscriberCount(b, "Clients", "Streams")}
}

func (s *oursSSE) Serve(ln net.Listener) error {
	s.ln = s.subs.listener(ln)
	mux := http.NewServeMux()
	mux.Handle("/events", s.b)
	return httpServe(s.ln, mux)
}

func (s *oursSSE) Publish(msg []byte) error { return s.PublishTopic("bench", msg) }

func (s *oursSSE) PublishTopic(topic string, msg []byte) error {
	_, err := s.b.Publish(topic, sse.Event{Data: string(msg)})
	return err
}

// Subscribers reads Stats().Clients where the revision has it, or else
// counts answered connections.
func (s *oursSSE) Subscribers() int { return s.subs.count() }

func (s *oursSSE) Close() error { return s.ln.Close() }
