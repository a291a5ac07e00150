package servers

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// coder/websocket: the chat example's server (a set of subscribers under a
// mutex, each with a buffered channel and a closeSlow func; Accept, then
// CloseRead, then a loop writing each message with a 5-second timeout).
// Two changes for a benchmark: the per-subscriber buffer is 256 (the
// example's 16 would drop subscribers during a burst of 50, which the
// example intends as back-pressure for chat) and the example's publish rate
// limiter is left out. coder/websocket has no server pings of its own.
func init() {
	register(Lib{Name: "coder", Kind: "ws", Path: "/ws", Title: "coder/websocket (chat example)",
		New: func(Options) (Server, error) { return newCoder(), nil }})
}

const coderSubscriberBuffer = 256

type coderSubscriber struct {
	msgs      chan []byte
	closeSlow func()
}

type coderServer struct {
	mu   sync.Mutex
	subs map[*coderSubscriber]struct{}
	ln   net.Listener
}

func newCoder() *coderServer {
	return &coderServer{subs: make(map[*coderSubscriber]struct{})}
}

func (s *coderServer) Serve(ln net.Listener) error {
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		s.subscribe(r.Context(), w, r)
	})
	return httpServe(ln, mux)
}

func (s *coderServer) subscribe(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var mu sync.Mutex
	var c *websocket.Conn
	var closed bool
	sub := &coderSubscriber{
		msgs: make(chan []byte, coderSubscriberBuffer),
		closeSlow: func() {
			mu.Lock()
			defer mu.Unlock()
			closed = true
			if c != nil {
				c.Close(websocket.StatusPolicyViolation, "connection too slow to keep up with messages")
			}
		},
	}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}()
	c2, err := websocket.Accept(w, r, nil)
	if err != nil {
		return err
	}
	mu.Lock()
	if closed {
		mu.Unlock()
		return net.ErrClosed
	}
	c = c2
	mu.Unlock()
	defer c.CloseNow()
	ctx = c.CloseRead(ctx)
	for {
		select {
		case msg := <-sub.msgs:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *coderServer) Publish(msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		select {
		case sub.msgs <- msg:
		default:
			go sub.closeSlow()
		}
	}
	return nil
}

func (s *coderServer) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

func (s *coderServer) Close() error { return s.ln.Close() }
