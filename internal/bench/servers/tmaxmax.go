package servers

import (
	"net"
	"net/http"
	"sync/atomic"

	tsse "github.com/tmaxmax/go-sse"
)

// tmaxmax/go-sse: an sse.Server with a Joe provider, the server used
// directly as the handler, Publish of an sse.Message built with AppendData.
// Joe has no subscriber count, so a Replayer that forwards nothing counts
// the subscriptions Joe takes in (Joe calls it for every one, as it calls
// its own no-op replayer otherwise).
func init() {
	register(Lib{Name: "tmaxmax", Kind: "sse", Path: "/events", Title: "tmaxmax/go-sse",
		New: func(Options) (Server, error) { return newTmaxmax(), nil }})
}

type tmaxmaxServer struct {
	srv  *tsse.Server
	subs atomic.Int64
	ln   net.Listener
}

// countingReplayer replays nothing and counts subscriptions.
type countingReplayer struct{ n *atomic.Int64 }

func (r countingReplayer) Put(m *tsse.Message, _ []string) (*tsse.Message, error) { return m, nil }
func (r countingReplayer) Replay(tsse.Subscription) error                         { r.n.Add(1); return nil }

func newTmaxmax() *tmaxmaxServer {
	s := &tmaxmaxServer{}
	s.srv = &tsse.Server{Provider: &tsse.Joe{Replayer: countingReplayer{&s.subs}}}
	return s
}

func (s *tmaxmaxServer) Serve(ln net.Listener) error {
	s.ln = ln
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer s.subs.Add(-1)
		s.srv.ServeHTTP(w, r)
	})
	return httpServe(ln, h)
}

func (s *tmaxmaxServer) Publish(msg []byte) error {
	m := &tsse.Message{}
	m.AppendData(string(msg))
	return s.srv.Publish(m)
}

func (s *tmaxmaxServer) Subscribers() int { return int(s.subs.Load()) }

func (s *tmaxmaxServer) Close() error {
	s.ln.Close()
	return nil
}
