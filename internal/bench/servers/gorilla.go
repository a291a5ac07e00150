package servers

import (
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// gorilla/websocket: the chat example's hub (register, unregister and
// broadcast channels served by one goroutine, a send channel of 256 per
// client, a client dropped when its channel is full), its readPump and
// writePump with the same limits and ping period, carrying a
// *websocket.PreparedMessage made once per broadcast and written with
// WritePreparedMessage. Only the Upgrader's CheckOrigin is the default one
// (same origin), which the load client satisfies.
func init() {
	register(Lib{Name: "gorilla", Kind: "ws", Path: "/ws", Title: "gorilla/websocket (chat hub + PreparedMessage)",
		New: func(o Options) (Server, error) { return newGorilla(o), nil }})
}

// The chat example's constants.
const (
	gorillaWriteWait      = 10 * time.Second
	gorillaPongWait       = 60 * time.Second
	gorillaPingPeriod     = (gorillaPongWait * 9) / 10
	gorillaMaxMessageSize = 512
)

type gorillaHub struct {
	clients    map[*gorillaClient]bool
	broadcast  chan *websocket.PreparedMessage
	register   chan *gorillaClient
	unregister chan *gorillaClient
	count      atomic.Int64
}

type gorillaClient struct {
	hub  *gorillaHub
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
}

type gorillaServer struct {
	hub        *gorillaHub
	upgrader   websocket.Upgrader
	pingPeriod time.Duration
	pongWait   time.Duration
	ln         net.Listener
}

func newGorilla(o Options) *gorillaServer {
	s := &gorillaServer{
		hub: &gorillaHub{
			clients:    make(map[*gorillaClient]bool),
			broadcast:  make(chan *websocket.PreparedMessage),
			register:   make(chan *gorillaClient),
			unregister: make(chan *gorillaClient),
		},
		upgrader:   websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024},
		pingPeriod: gorillaPingPeriod,
		pongWait:   gorillaPongWait,
	}
	if o.Heartbeat > 0 && o.Heartbeat < gorillaPingPeriod {
		// Ping more often; keep the example's pong wait, which a busy
		// machine needs.
		s.pingPeriod = o.Heartbeat
	}
	go s.hub.run()
	return s
}

func (h *gorillaHub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
			h.count.Add(1)
		case c := <-h.unregister:
			if _, ok := h.clients[c]; ok {
				delete(h.clients, c)
				close(c.send)
				h.count.Add(-1)
			}
		case m := <-h.broadcast:
			for c := range h.clients {
				select {
				case c.send <- m:
				default:
					close(c.send)
					delete(h.clients, c)
					h.count.Add(-1)
				}
			}
		}
	}
}

func (s *gorillaServer) Serve(ln net.Listener) error {
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := s.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &gorillaClient{hub: s.hub, conn: conn, send: make(chan *websocket.PreparedMessage, 256)}
		c.hub.register <- c
		go s.writePump(c)
		go s.readPump(c)
	})
	return httpServe(ln, mux)
}

func (s *gorillaServer) readPump(c *gorillaClient) {
	defer func() {
		c.hub.unregister <- c
		c.conn.Close()
	}()
	c.conn.SetReadLimit(gorillaMaxMessageSize)
	c.conn.SetReadDeadline(time.Now().Add(s.pongWait))
	c.conn.SetPongHandler(func(string) error { c.conn.SetReadDeadline(time.Now().Add(s.pongWait)); return nil })
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (s *gorillaServer) writePump(c *gorillaClient) {
	ticker := time.NewTicker(s.pingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case m, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(gorillaWriteWait))
			if !ok {
				c.conn.WriteMessage(websocket.CloseMessage, []byte{})
				return
			}
			if err := c.conn.WritePreparedMessage(m); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(gorillaWriteWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func (s *gorillaServer) Publish(msg []byte) error {
	m, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
	if err != nil {
		return err
	}
	s.hub.broadcast <- m
	return nil
}

func (s *gorillaServer) Subscribers() int { return int(s.hub.count.Load()) }

func (s *gorillaServer) Close() error { return s.ln.Close() }
