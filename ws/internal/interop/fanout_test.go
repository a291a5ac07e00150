package interop

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/realtime-go/realtime/ws"
)

// chatLong is a chat message of about 1,000 bytes as people write them.
const chatLong = `{"type":"message","room":"general","from":"ann","text":"Quick update on the rollout, ` +
	`since several of you asked this morning. The database migration finished at 04:10 UTC, about forty ` +
	`minutes later than planned, because the index rebuild on the orders table took longer under production ` +
	`load than it did in staging. Nothing was lost and the checks Priya wrote all came back green. We are ` +
	`keeping the old read replicas around until Friday in case we need to compare results, then Sven will ` +
	`decommission them. Customer support saw two tickets about slow page loads between 03:50 and 04:20; both ` +
	`are answered. If you are on call tonight, the runbook has a new section on the queue backlog alarm: it ` +
	`fires at 5,000 pending jobs now instead of 2,000, which matches what we measured last week. Please read ` +
	`it before your shift. Next steps: Hiro is drafting the postmortem.","time":1764660605123}`

// broadcaster is one library's server with compression on: it accepts
// connections at its handler and sends a message to all of them.
type broadcaster struct {
	handler   http.Handler
	broadcast func(data []byte)
	stop      func()
	clients   func() int // connections accepted
}

func oursServer() broadcaster {
	h := ws.NewHub(ws.HubOptions{HistorySize: -1, HistoryBytes: 64 << 20})
	return broadcaster{h, func(d []byte) { h.Publish("t", ws.MessageText, d) }, func() { h.Shutdown(context.Background()) },
		func() int { return h.Stats().Clients }}
}

// conns is the connection list of the peers' servers.
type conns[C any] struct {
	mu  sync.Mutex
	all []C
}

func (c *conns[C]) add(x C)  { c.mu.Lock(); c.all = append(c.all, x); c.mu.Unlock() }
func (c *conns[C]) len() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.all) }
func (c *conns[C]) list() []C {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]C(nil), c.all...)
}

func gorillaServer() broadcaster {
	var cs conns[*gorilla.Conn]
	up := gorilla.Upgrader{EnableCompression: true}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.EnableWriteCompression(true)
		cs.add(c)
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	})
	return broadcaster{h, func(d []byte) {
		// A prepared message is compressed once for all the connections.
		pm, _ := gorilla.NewPreparedMessage(gorilla.TextMessage, d)
		for _, c := range cs.list() {
			c.WritePreparedMessage(pm)
		}
	}, func() {
		for _, c := range cs.list() {
			c.Close()
		}
	}, cs.len}
}

func gwsServer() broadcaster {
	var cs conns[*gws.Conn]
	up := gws.NewUpgrader(&gws.BuiltinEventHandler{}, &gws.ServerOption{PermessageDeflate: gws.PermessageDeflate{Enabled: true}})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		cs.add(c)
		go c.ReadLoop()
	})
	return broadcaster{h, func(d []byte) {
		// A broadcaster compresses once for the connections without
		// context takeover.
		b := gws.NewBroadcaster(gws.OpcodeText, d)
		for _, c := range cs.list() {
			b.Broadcast(c)
		}
		b.Close()
	}, func() {
		for _, c := range cs.list() {
			c.NetConn().Close()
		}
	}, cs.len}
}

func coderServer() broadcaster {
	var cs conns[*websocket.Conn]
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionNoContextTakeover})
		if err != nil {
			return
		}
		cs.add(c)
		c.CloseRead(context.Background())
	})
	return broadcaster{h, func(d []byte) {
		// Each connection compresses its own copy.
		for _, c := range cs.list() {
			c.Write(context.Background(), websocket.MessageText, d)
		}
	}, func() {
		for _, c := range cs.list() {
			c.CloseNow()
		}
	}, cs.len}
}

// BenchmarkFanoutDeflate broadcasts a 1 KB chat message to 100 clients
// (gorilla's, with compression on, reading and inflating every message)
// from each library's server with compression on, and reports deliveries
// per second and the process's CPU time per delivery: the clients run in
// the same process and cost the same for every server.
//
//	cd ws/internal/interop && go test -run '^$' -bench FanoutDeflate -benchtime=300x .
func BenchmarkFanoutDeflate(b *testing.B) {
	const subs = 100
	for _, lib := range []struct {
		name string
		srv  func() broadcaster
	}{{"ours", oursServer}, {"gorilla", gorillaServer}, {"gws", gwsServer}, {"coder", coderServer}} {
		b.Run(lib.name, func(b *testing.B) {
			s := lib.srv()
			srv := httptest.NewServer(s.handler)
			defer srv.Close()
			defer s.stop()
			url := "ws" + strings.TrimPrefix(srv.URL, "http") + "?topic=t"
			want := int64(subs) * int64(b.N)
			var got atomic.Int64
			all := make(chan struct{})
			var once sync.Once
			var wg sync.WaitGroup
			defer wg.Wait()
			d := gorilla.Dialer{EnableCompression: true, HandshakeTimeout: testTimeout}
			for range subs {
				c, resp, err := d.Dial(url, nil)
				if err != nil {
					b.Fatal(err)
				}
				if !strings.HasPrefix(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
					b.Fatalf("%s did not negotiate compression", lib.name)
				}
				defer c.Close()
				wg.Go(func() {
					for {
						if _, _, err := c.ReadMessage(); err != nil {
							return
						}
						if got.Add(1) == want {
							once.Do(func() { close(all) })
						}
					}
				})
			}
			// Wait until the server holds every connection: the peers
			// tell no event for it, so poll.
			deadline := time.Now().Add(testTimeout)
			for s.clients() < subs && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				s.broadcast([]byte(chatLong))
			}
			select {
			case <-all:
			case <-time.After(testTimeout):
				b.Fatalf("%d of %d deliveries", got.Load(), want)
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(want), "cpu-ns/delivery")
			b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
