package servers

import (
	"net"
	"net/http"
	"sync/atomic"

	r3 "github.com/r3labs/sse/v2"
)

// r3labs/sse: sse.New (here NewWithCallback, to count subscribers), one
// stream made with CreateStream, its ServeHTTP on a mux, Publish to the
// stream. Defaults otherwise (AutoReplay on, as New sets it).
func init() {
	register(Lib{Name: "r3labs", Kind: "sse", Path: "/events?stream=bench", Title: "r3labs/sse/v2",
		New: func(Options) (Server, error) { return newR3labs(), nil }})
}

type r3labsServer struct {
	srv  *r3.Server
	subs atomic.Int64
	ln   net.Listener
}

func newR3labs() *r3labsServer {
	s := &r3labsServer{}
	s.srv = r3.NewWithCallback(
		func(string, *r3.Subscriber) { s.subs.Add(1) },
		func(string, *r3.Subscriber) { s.subs.Add(-1) },
	)
	s.srv.CreateStream("bench")
	return s
}

func (s *r3labsServer) Serve(ln net.Listener) error {
	s.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/events", s.srv.ServeHTTP)
	return httpServe(ln, mux)
}

func (s *r3labsServer) Publish(msg []byte) error {
	s.srv.Publish("bench", &r3.Event{Data: msg})
	return nil
}

func (s *r3labsServer) Subscribers() int { return int(s.subs.Load()) }

func (s *r3labsServer) Close() error {
	s.srv.Close()
	return s.ln.Close()
}
