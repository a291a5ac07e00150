package servers

import (
	"net"
	"net/http"

	"github.com/lxzan/gws"
)

// lxzan/gws: the push example (an Upgrader, connections kept in a
// gws.ConcurrentMap keyed by Sec-WebSocket-Key, ReadLoop in its own
// goroutine, OnClose deleting the entry) broadcasting with one
// gws.Broadcaster per message, closed after the loop, as the README's
// Broadcast section shows. Compression is left off (the load client does
// not offer it). gws servers send no pings of their own: in its examples
// the client pings.
func init() {
	register(Lib{Name: "gws", Kind: "ws", Path: "/ws", Title: "lxzan/gws (Broadcaster)",
		New: func(Options) (Server, error) { return newGws(), nil }})
}

type gwsServer struct {
	gws.BuiltinEventHandler
	conns    *gws.ConcurrentMap[string, *gws.Conn]
	upgrader *gws.Upgrader
	ln       net.Listener
}

func newGws() *gwsServer {
	s := &gwsServer{conns: gws.NewConcurrentMap[string, *gws.Conn]()}
	s.upgrader = gws.NewUpgrader(s, &gws.ServerOption{})
	return s
}

func (s *gwsServer) Serve(ln net.Listener) error {
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		socket, err := s.upgrader.Upgrade(w, r)
		if err != nil {
			return
		}
		key := r.Header.Get("Sec-WebSocket-Key")
		socket.Session().Store("websocketKey", key)
		s.conns.Store(key, socket)
		go socket.ReadLoop()
	})
	return httpServe(ln, mux)
}

// OnClose forgets the connection.
func (s *gwsServer) OnClose(socket *gws.Conn, _ error) {
	if v, ok := socket.Session().Load("websocketKey"); ok {
		s.conns.Delete(v.(string))
	}
}

// OnMessage releases what clients send; the benchmark's clients send none.
func (s *gwsServer) OnMessage(_ *gws.Conn, m *gws.Message) { m.Close() }

func (s *gwsServer) Publish(msg []byte) error {
	b := gws.NewBroadcaster(gws.OpcodeText, msg)
	s.conns.Range(func(_ string, c *gws.Conn) bool {
		_ = b.Broadcast(c)
		return true
	})
	return b.Close()
}

func (s *gwsServer) Subscribers() int { return s.conns.Len() }

func (s *gwsServer) Close() error { return s.ln.Close() }
