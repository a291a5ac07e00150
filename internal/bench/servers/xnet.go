package servers

import (
	"net"
	"net/http"
	"sync"

	"golang.org/x/net/websocket"
)

// golang.org/x/net/websocket, plain: websocket.Handler as its package
// documentation shows, with the usual broadcast shape around it (a set of
// clients under a mutex, a send channel of 256 per client drained by a
// writer goroutine with websocket.Message.Send of the bytes (a binary frame,
// which spares a string copy per send), the handler reading with
// websocket.Message.Receive until the peer goes, a client dropped when its
// channel is full). x/net sends no pings.
func init() {
	register(Lib{Name: "xnet", Kind: "ws", Path: "/ws", Title: "golang.org/x/net/websocket (plain)",
		New: func(Options) (Server, error) { return newXnet(), nil }})
}

const xnetSendBuffer = 256

type xnetServer struct {
	mu      sync.Mutex
	clients map[chan []byte]struct{}
	ln      net.Listener
}

func newXnet() *xnetServer {
	return &xnetServer{clients: make(map[chan []byte]struct{})}
}

func (s *xnetServer) Serve(ln net.Listener) error {
	s.ln = ln
	mux := http.NewServeMux()
	mux.Handle("/ws", websocket.Handler(s.handle))
	return httpServe(ln, mux)
}

func (s *xnetServer) handle(ws *websocket.Conn) {
	send := make(chan []byte, xnetSendBuffer)
	s.mu.Lock()
	s.clients[send] = struct{}{}
	s.mu.Unlock()
	go func() {
		for m := range send {
			if err := websocket.Message.Send(ws, m); err != nil {
				ws.Close()
				for range send {
				}
				return
			}
		}
		ws.Close()
	}()
	var in string
	for websocket.Message.Receive(ws, &in) == nil {
	}
	s.mu.Lock()
	if _, ok := s.clients[send]; ok {
		delete(s.clients, send)
		close(send)
	}
	s.mu.Unlock()
}

func (s *xnetServer) Publish(msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for send := range s.clients {
		select {
		case send <- msg:
		default:
			delete(s.clients, send)
			close(send)
		}
	}
	return nil
}

func (s *xnetServer) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

func (s *xnetServer) Close() error { return s.ln.Close() }
