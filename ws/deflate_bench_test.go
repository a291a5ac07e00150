package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/wstest"
)

// realMessages are messages of the examples as a Hub sends them: the data
// of PublishJSON for a hub message, of SendJSON for a direct one.
func realMessages() []struct {
	name, topic string
	direct      bool
	data        any
} {
	names := []string{"ann", "bob", "carla", "dmitri", "eve", "farid", "grace", "hiro", "ines", "jon",
		"kemal", "lena", "mo", "nadia", "oscar", "priya", "quinn", "rosa", "sven", "tomas"}
	nicks := make([]string, 100)
	for i := range nicks {
		nicks[i] = fmt.Sprintf("%s%s%d", names[(i*7)%len(names)], []string{"", "_", ".", "-x"}[i%4], (i*7919)%997)
	}
	return []struct {
		name, topic string
		direct      bool
		data        any
	}{
		// The ticker's price update.
		{"ticker-quote", "ACME", false, map[string]any{"symbol": "ACME", "price": 121.37, "open": 118.4, "time": 1764660605123}},
		// A chat message of one line, and one of 1,000 characters.
		{"chat-line", "general", false, map[string]any{"type": "message", "room": "general", "from": "ann", "text": "Hi bob, are you coming to the meeting at three?", "time": 1764660605123}},
		{"chat-long", "general", false, map[string]any{"type": "message", "room": "general", "from": "ann",
			"text": longText[:1000], "time": 1764660605123}},
		// The chat's welcome reply to a page that joins a room of 100.
		{"chat-welcome", "", true, map[string]any{"type": "welcome", "nick": "ann", "rooms": []string{"general"},
			"members": map[string][]string{"general": nicks}, "counts": map[string]int{"general": 100}}},
	}
}

// frameOf returns the frame a Hub sends for message data.
func frameOf(b testing.TB, topic string, direct bool, data any) []byte {
	p, err := json.Marshal(data)
	if err != nil {
		b.Fatal(err)
	}
	if direct {
		return appendFrame(nil, opText, append(appendData([]byte(`{"type":"direct","data":`), p, true), '}'))
	}
	return encodeText("Xy3_kP9a-1234567", textEnvelope(topic, p, true))
}

// BenchmarkCompressionWire reports the bytes on the wire of the examples'
// real messages, uncompressed and compressed on their own (no context
// takeover), whatever the threshold. Run it with -benchtime=1x.
func BenchmarkCompressionWire(b *testing.B) {
	for _, m := range realMessages() {
		b.Run(m.name, func(b *testing.B) {
			f := frameOf(b, m.topic, m.direct, m.data)
			var z []byte
			for range b.N {
				z = compressShared(f)
			}
			b.ReportMetric(float64(len(f)), "plain-B")
			b.ReportMetric(float64(len(z)), "deflate-B")
			b.ReportMetric(float64(len(f))/float64(len(z)), "ratio")
		})
	}
}

// BenchmarkHubFanoutDeflate publishes the examples' real messages to 200
// readers over TCP, all offering compression or none, and reports the
// process's CPU time per delivery (the readers, which only parse frame
// headers, run in the same process) and the frame bytes per delivery.
//
//	go test -run '^$' -bench HubFanoutDeflate -benchtime=2000x ./ws/
//
// Messages under the threshold go uncompressed (deflate); deflate-all
// sets the threshold to 1 to show what compressing them would cost.
func BenchmarkHubFanoutDeflate(b *testing.B) {
	const subs = 200
	for _, m := range realMessages() {
		if m.direct {
			continue
		}
		// deflate sends messages under defaultCompressionThreshold as they
		// are; deflate-all compresses every message.
		for _, mode := range []string{"plain", "deflate", "deflate-all"} {
			b.Run(m.name+"/"+mode, func(b *testing.B) {
				p, _ := json.Marshal(m.data)
				// A history large enough that no reader falls behind it.
				opts := HubOptions{HistorySize: -1, HistoryBytes: 64 << 20}
				if mode == "deflate-all" {
					opts.Conn.compressionThreshold = 1
				}
				h := NewHub(opts)
				var wire atomic.Int64
				srv := httptest.NewServer(h)
				defer srv.Close()
				defer h.Shutdown(context.Background())
				var hdr http.Header
				if mode != "plain" {
					hdr = offerDeflate
				}
				want := int64(subs) * int64(b.N)
				var got atomic.Int64
				all := make(chan struct{})
				var allOnce sync.Once
				var wg sync.WaitGroup
				defer wg.Wait() // after the connections' Close
				for range subs {
					c, _, err := wstest.Dial(srv.URL+"?topic="+m.topic, hdr)
					if err != nil || c == nil {
						b.Fatal(err)
					}
					defer c.Close()
					wg.Go(func() {
						countFrames(c.R, &got, func(n int64) {
							wire.Add(n)
							if got.Load() == want {
								allOnce.Do(func() { close(all) })
							}
						})
					})
				}
				cpu0 := cpuTime()
				b.ResetTimer()
				for range b.N {
					if _, err := h.PublishJSON(m.topic, json.RawMessage(p)); err != nil {
						b.Fatal(err)
					}
				}
				<-all
				b.StopTimer()
				cpu := cpuTime() - cpu0
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(want), "cpu-ns/delivery")
				b.ReportMetric(float64(wire.Load())/float64(want), "wire-B/delivery")
				b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}

// cpuTime returns the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// longText is a chat message as people write them, over 1,000 bytes.
const longText = "Quick update on the rollout, since several of you asked this morning. " +
	"The database migration finished at 04:10 UTC, about forty minutes later than planned, " +
	"because the index rebuild on the orders table took longer under production load than " +
	"it did in staging. Nothing was lost and the checks Priya wrote all came back green. " +
	"We are keeping the old read replicas around until Friday in case we need to compare " +
	"results, then Sven will decommission them. Customer support saw two tickets about slow " +
	"page loads between 03:50 and 04:20; both are answered. If you are on call tonight, the " +
	"runbook has a new section on the queue backlog alarm: it fires at 5,000 pending jobs now " +
	"instead of 2,000, which matches what we measured last week. Please read it before your " +
	"shift. Next steps: Hiro is drafting the postmortem, Grace owns the follow-up on the " +
	"staging data size so our rehearsals look more like the real thing, and I will send the " +
	"summary to the leadership list after lunch. Thanks all for staying late, it went well."
