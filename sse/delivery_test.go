package sse

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// burstEvents is a burst a batch job or a backfill publishes in a loop:
// about 500 KB of small events, far inside the default history bytes.
const burstEvents = 5000

// TestBrokerBurstReachesFastStreams: a burst published in a loop reaches
// every fast stream whole, in order, without a gap or a disconnect.
func TestBrokerBurstReachesFastStreams(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			leakcheck.Check(t)
			b := NewBroker(modeOptions(mode, BrokerOptions{}))
			ts, c := newModeServer(t, b, mode)
			c.Timeout = connTimeout // a stream that stalls fails the test
			const streams = 4
			var readers []*Reader
			for range streams {
				_, r := open(t, c, ts.URL+"?topic=burst")
				readers = append(readers, r)
			}
			waitfor.Cond(t, "streams", waitTimeout, func() bool { return b.Stats().Clients == streams })
			pad := strings.Repeat("x", 90)
			ids := make([]string, burstEvents)
			for i := range ids {
				ids[i] = publish(t, b, "burst", Event{Data: fmt.Sprintf("%05d %s", i, pad)})
			}
			for n, r := range readers {
				for i := range burstEvents {
					ev, err := r.Next()
					if err != nil {
						t.Fatalf("stream %d: event %d of %d: %v", n, i, burstEvents, err)
					}
					if ev.Type == GapEvent || ev.ID != ids[i] {
						t.Fatalf("stream %d: event %d is %s %q, want %s", n, i, ev.Type, ev.ID, ids[i])
					}
				}
			}
			b.Shutdown(t.Context())
		})
	}
}

// TestBrokerResumeAfterTopicDropped: a topic with no history is dropped
// when its last stream leaves; a later resume from before its events is
// still an explicit gap, not an empty replay.
func TestBrokerResumeAfterTopicDropped(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{HistorySize: -1})
	ts, c := newServer(t, b, false)
	c.Timeout = connTimeout // a resume that gets nothing fails the test
	resp, r := open(t, c, ts.URL+"?topic=gone")
	waitfor.Cond(t, "stream", waitTimeout, func() bool { return b.Stats().Clients == 1 })
	id := publish(t, b, "gone", Event{Data: "missed"})
	if ev := next(t, r); ev.ID != id {
		t.Fatalf("got %q, want %q", ev.ID, id)
	}
	resp.Body.Close()
	waitfor.Cond(t, "stream closed", waitTimeout, func() bool { return b.Stats().Clients == 0 })
	epoch, _, _ := hub.ParseID(id)
	_, r = open(t, c, ts.URL+"?topic=gone", "Last-Event-ID", hub.FormatID(epoch, 0))
	if ev := next(t, r); ev.Type != GapEvent {
		t.Fatalf("resume from before a dropped topic's event got %+v, want a %s event", ev, GapEvent)
	}
	b.Shutdown(t.Context())
}

// TestNewBrokerRefusesBadEpoch: an epoch that could not stand in an ID is
// refused where it is set.
func TestNewBrokerRefusesBadEpoch(t *testing.T) {
	for _, epoch := range []string{"tab\there", strings.Repeat("x", 44), "line\nbreak"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewBroker with epoch %q did not panic", epoch)
				}
			}()
			NewBroker(BrokerOptions{Epoch: epoch})
		}()
	}
	b := NewBroker(BrokerOptions{Epoch: "E"})
	if id := publish(t, b, "a", Event{Data: "x"}); id != "E-1" {
		t.Errorf("ID %q, want E-1", id)
	}
	b.Shutdown(t.Context())
}

// TestResumesShareTheHistory: clients that resume from the start of a
// full history and never read make the server hold no copy of it each:
// their replay is written from the shared history.
func TestResumesShareTheHistory(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(modeOptions("http1-takeover", BrokerOptions{Heartbeat: -1, HistoryBytes: 32 << 20}))
	ts, _ := newServer(t, b, false)
	data := strings.Repeat("h", 16000)
	var first string
	for i := range 1000 { // 16 MB of history: more than socket buffers take
		id := publish(t, b, "full", Event{Data: data})
		if i == 0 {
			first = id
		}
	}
	epoch, _, _ := hub.ParseID(first)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const resumers = 20
	var conns []net.Conn
	for range resumers {
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		fmt.Fprintf(conn, "GET /?topic=full HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: %s\r\n\r\n", hub.FormatID(epoch, 0))
	}
	waitfor.Cond(t, "the resumes", waitTimeout, func() bool { return b.Stats().Replayed >= resumers })
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("%d resumes of a 16 MB history that nobody reads grew the heap by %d MiB", resumers, grew>>20)
	}
	for _, c := range conns {
		c.Close()
	}
	b.Shutdown(context.Background())
}
