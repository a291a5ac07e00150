package servers

import (
	"net"
	"net/http"

	"github.com/realtime-go/realtime/ws"
)

// oursMaxClients is the most clients the benchmark lets our Broker and Hub
// hold: above the scale scenario's 19,000 (the default is 10,000).
const oursMaxClients = 20_000

// Ours, WebSocket: a ws.Hub on a mux at /ws, subscribers choosing the topic
// with ?topic=bench, Publish of a text message (the hub wraps it in its
// JSON envelope with the message ID). Default options except MaxClients and,
// when the benchmark sets one, the ping interval.
func init() {
	register(Lib{Name: "ours-ws", Kind: "ws", Path: "/ws?topic=bench", Topics: true, Title: "**realtime/ws (ours)**",
		New: func(o Options) (Server, error) { return newOursWS(o), nil }})
}

type oursWS struct {
	h    *ws.Hub
	ln   net.Listener
	subs *subscriberCount
}

func newOursWS(o Options) *oursWS {
	var opts ws.HubOptions
	setOption(&opts, oursMaxClients, "MaxClients", "MaxConns")
	opts.Conn.PingInterval = o.Heartbeat
	h := ws.NewHub(opts)
	return &oursWS{h: h, subs: newSubscriberCount(h, "Clients", "Conns")}
}

func (s *oursWS) Serve(ln net.Listener) error {
	s.ln = s.subs.listener(ln)
	mux := http.NewServeMux()
	mux.Handle("/ws", s.h)
	return httpServe(s.ln, mux)
}

func (s *oursWS) Publish(msg []byte) error { return s.PublishTopic("bench", msg) }

func (s *oursWS) PublishTopic(topic string, msg []byte) error {
	_, err := s.h.Publish(topic, ws.MessageText, msg)
	return err
}

// Subscribers reads Stats().Clients where the revision has it, or else
// counts answered connections.
func (s *oursWS) Subscribers() int { return s.subs.count() }

func (s *oursWS) Close() error { return s.ln.Close() }
