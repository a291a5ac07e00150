package clienttest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// waitBound is how long a test waits for something that should happen at
// once (an event, a message, a close) before it fails: it only catches
// hangs.
const waitBound = 30 * time.Second

// Close codes the clients and the server send each other.
const (
	serverCloseCode = 4001
	clientCloseCode = 4002
)

// readLimit is the Hub's ReadLimit: a larger message from a client
// closes its connection with StatusMessageTooBig.
const readLimit = 64 << 10

// closeMe is the message that asks the server to close the connection
// with serverCloseCode.
const closeMe = "close-me"

// sseOpen is what the Broker's OnConnect saw of a stream.
type sseOpen struct {
	proto       int    // HTTP major version
	lastEventID string // the Last-Event-ID header, or the lastEventId parameter
}

// wsOpen is what the Hub's OnConnect saw of a connection.
type wsOpen struct {
	member *ws.Member
	proto  int // HTTP major version of the handshake
}

// wsMessage is a message the Hub's OnMessage received.
type wsMessage struct {
	typ  ws.MessageType
	data string
}

// server is a user's server: a Broker at /events and a Hub at /ws, whose
// hooks tell the test what the server saw. The Hub's OnMessage echoes
// what it gets with Member.Send and closes with serverCloseCode on closeMe.
type server struct {
	broker *sse.Broker
	hub    *ws.Hub
	ts     *httptest.Server

	sseOpened chan sseOpen
	wsOpened  chan wsOpen
	wsGot     chan wsMessage
	wsClosed  chan error
}

// startServer serves a new server on 127.0.0.1: over HTTP/2 with TLS when
// h2, else over HTTP/1.1.
func startServer(t *testing.T, h2 bool) *server {
	t.Helper()
	s := &server{
		sseOpened: make(chan sseOpen, 8),
		wsOpened:  make(chan wsOpen, 8),
		wsGot:     make(chan wsMessage, 64),
		wsClosed:  make(chan error, 8),
	}
	s.broker = sse.NewBroker(sse.BrokerOptions{
		OnConnect: func(r *http.Request, _ []string) {
			id := r.Header.Get("Last-Event-ID")
			if id == "" {
				id = r.URL.Query().Get("lastEventId")
			}
			s.sseOpened <- sseOpen{proto: r.ProtoMajor, lastEventID: id}
		},
	})
	s.hub = ws.NewHub(ws.HubOptions{
		Conn:      ws.AcceptOptions{ReadLimit: readLimit},
		OnConnect: func(m *ws.Member, r *http.Request) { s.wsOpened <- wsOpen{member: m, proto: r.ProtoMajor} },
		OnMessage: func(m *ws.Member, typ ws.MessageType, data []byte) {
			s.wsGot <- wsMessage{typ: typ, data: string(data)}
			if typ == ws.MessageText && string(data) == closeMe {
				m.Conn().Close(serverCloseCode, "server says bye")
				return
			}
			m.Send(typ, data)
		},
		OnClose: func(_ *ws.Member, err error) { s.wsClosed <- err },
	})
	mux := http.NewServeMux()
	mux.Handle("/events", s.broker)
	mux.Handle("/ws", s.hub)
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "testdata/browser/page.html")
	})
	s.ts = httptest.NewUnstartedServer(mux)
	if h2 {
		s.ts.EnableHTTP2 = true
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		s.broker.Shutdown(ctx)
		s.hub.Shutdown(ctx)
		s.ts.Close()
	})
	return s
}

// url returns the address of path: http(s)://127.0.0.1:port/path.
func (s *server) url(path string) string { return s.ts.URL + path }

// wsURL returns the ws:// address of path.
func (s *server) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(s.ts.URL, "http") + path
}

// publishSSE publishes data to topic "t" and returns its ID.
func (s *server) publishSSE(t *testing.T, data string) string {
	t.Helper()
	id, err := s.broker.Publish("t", sse.Event{Data: data})
	if err != nil {
		t.Fatalf("Broker.Publish: %v", err)
	}
	return id
}

// publishWS publishes text to topic "t" and returns its ID.
func (s *server) publishWS(t *testing.T, data string) string {
	t.Helper()
	id, err := s.hub.Publish("t", ws.MessageText, []byte(data))
	if err != nil {
		t.Fatalf("Hub.Publish: %v", err)
	}
	return id
}

// wait returns the next value of ch, or fails the test after waitBound.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitBound):
		t.Fatalf("no %s within %v", what, waitBound)
		panic("unreachable")
	}
}

// closeCode returns the code of a close error, or 0.
func closeCode(err error) ws.StatusCode {
	var ce *ws.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
