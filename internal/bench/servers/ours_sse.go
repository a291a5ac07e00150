package servers

import (
	"net"
	"net/http"

	"github.com/realtime-go/realtime/sse"
)

// Ours, SSE: an sse.Broker on a mux at /events, subscribers choosing the
// topic with ?topic=bench, Publish of an sse.Event. Default options except
// the heartbeat when the benchmark sets one.
func init() {
	register(Lib{Name: "ours-sse", Kind: "sse", Path: "/events?topic=bench", Title: "**realtime/sse (ours)**",
		New: func(o Options) (Server, error) { return newOursSSE(o), nil }})
}

type oursSSE struct {
	b  *sse.Broker
	ln net.Listener
}

func newOursSSE(o Options) *oursSSE {
	return &oursSSE{b: sse.NewBroker(sse.BrokerOptions{Heartbeat: o.Heartbeat})}
}

func (s *oursSSE) Serve(ln net.Listener) error {
	s.ln = ln
	mux := http.NewServeMux()
	mux.Handle("/events", s.b)
	return httpServe(ln, mux)
}

func (s *oursSSE) Publish(msg []byte) error {
	_, err := s.b.Publish("bench", sse.Event{Data: string(msg)})
	return err
}

func (s *oursSSE) Subscribers() int { return s.b.Stats().Streams }

func (s *oursSSE) Close() error { return s.ln.Close() }
