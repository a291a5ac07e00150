package servers

import (
	"net"
	"net/http"

	"github.com/realtime-go/realtime/ws"
)

// oursWSMaxConns is the MaxConns the benchmark gives our ws.Hub: above the
// scale scenario's 19,000 (ws.DefaultMaxConns is 10,000).
const oursWSMaxConns = 20_000

// Ours, WebSocket: a ws.Hub on a mux at /ws, subscribers choosing the topic
// with ?topic=bench, Publish of a text message (the hub wraps it in its
// JSON envelope with the message ID). Default options except MaxConns and,
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
	opts := ws.HubOptions{MaxConns: oursWSMaxConns}
	opts.Conn.PingInterval = o.Heartbeat
	h := ws.NewHub(opts)
	return &oursWS{h: h, subs: newSubscriberCount(h, "Conns")}
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

// Subscribers reads Stats().Conns where the revision has it, or else
// counts answered connections.
func (s *oursWS) Subscribers() int { return s.subs.count() }

func (s *oursWS) Close() error { return s.ln.Close() }
