package servers

import (
	"cmp"
	"context"
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
	setOption(&opts, cmp.Or(o.MaxClients, oursMaxClients), "MaxClients", "MaxConns")
	setOption(&opts, o.MaxClientsPerAddr, "MaxClientsPerAddr")
	opts.Conn.PingInterval = o.Heartbeat
	h := ws.NewHub(opts)
	return &oursWS{h: h, subs: newSubscriberCount(h, "Clients", "Conns")}
}

func (s *oursWS) Serve(ln net.Listener) error {
	s.ln = s.subs.listener(ln)
	mux := http.NewServeMux()
	mux.Handle("/ws", s.h)
	mux.Handle("/echo", http.HandlerFunc(echo))
	return httpServe(s.ln, mux)
}

// echo is the echo example's handler at /echo (for the attack scenarios):
// ws.Accept with the default options, then each message read is written
// back, with Conn.Write where the revision has it (it waits for room in
// the send buffer) and with Conn.Send otherwise, as that revision's
// example did.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return
	}
	ctx := context.Background()
	type writer interface {
		Write(context.Context, ws.MessageType, []byte) error
	}
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			break
		}
		if wr, ok := any(c).(writer); ok {
			err = wr.Write(ctx, typ, data)
		} else {
			err = c.Send(typ, data)
		}
		if err != nil {
			break
		}
	}
	c.CloseNow()
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
