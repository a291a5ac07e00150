package reliability

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// Shutdown test sizes.
const (
	shutdownTopics  = 4
	shutdownTimeout = 5 * time.Second // the examples' bound: logged beside the time taken
	shutdownPace    = 2 * time.Millisecond
)

// shutdownConns returns how many clients of each kind the shutdown test
// connects.
func shutdownConns() int {
	if raceEnabled {
		return 200
	}
	return 1_000
}

// TestShutdownUnderLoad shuts the server down while every client is
// receiving a steady stream, and checks that Shutdown returns within its
// context and that every client is closed cleanly: each SSE stream ends
// with the end of its response, each WebSocket with close 1001, and each
// client got, in order and once, at least every message published to its
// topic before Shutdown was called. (Messages published while Shutdown
// runs may reach only the history, for clients to resume from.)
func TestShutdownUnderLoad(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	n := shutdownConns()
	r := startRig(t, rigOptions{})
	var wg sync.WaitGroup
	defer wg.Wait()
	type result struct {
		tl  *tally
		end error
	}
	results := make([]result, 2*n)
	var ended sync.WaitGroup
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for i := range 2 * n {
		tl := &tally{}
		results[i].tl = tl
		topic := "t" + strconv.Itoa(i/2%shutdownTopics)
		ended.Add(1)
		if i%2 == 0 {
			c, resp, err := dialSSE(nil, r.addr, "/events?topic="+topic, nil)
			if c == nil {
				t.Fatal(err, respStatus(resp))
			}
			closers = append(closers, c.Close)
			wg.Go(func() {
				defer ended.Done()
				results[i].end = readSSE(c, tl)
			})
		} else {
			c, resp, err := dialWS(nil, r.addr, "/ws?topic="+topic, nil)
			if c == nil {
				t.Fatal(err, respStatus(resp))
			}
			closers = append(closers, c.Close)
			wg.Go(func() {
				defer ended.Done()
				results[i].end = readWS(c, tl)
			})
		}
	}

	// One publisher per kind and topic, each until its server refuses.
	var published [2][shutdownTopics]atomic.Int64
	var pubs sync.WaitGroup
	defer pubs.Wait()
	for k := range 2 {
		for i := range shutdownTopics {
			topic := "t" + strconv.Itoa(i)
			pubs.Go(func() {
				tick := time.NewTicker(shutdownPace)
				defer tick.Stop()
				for seq := 0; ; seq++ {
					var err error
					if k == 0 {
						_, err = r.broker.Publish(topic, sse.Event{Data: payload(seq)})
					} else {
						_, err = r.hub.Publish(topic, ws.MessageText, []byte(payload(seq)))
					}
					if err != nil {
						return
					}
					published[k][i].Add(1)
					<-tick.C
				}
			})
		}
	}
	waitfor.Cond(t, "every client to be receiving", waitTimeout, func() bool {
		for _, res := range results {
			if got, _ := res.tl.count(); got < 10 {
				return false
			}
		}
		return true
	})

	// Every message published before Shutdown is called must reach every
	// client of its topic: Shutdown writes what is queued before it closes.
	var before [2][shutdownTopics]int64
	for k := range 2 {
		for i := range shutdownTopics {
			before[k][i] = published[k][i].Load()
		}
	}
	// Shutdown's context only catches a hang: a loaded machine can take
	// longer than the examples' bound to close every client cleanly.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	start := time.Now()
	if err := r.shutdown(ctx); err != nil {
		t.Fatalf("shutdown under load: %v after %v", err, time.Since(start))
	}
	took := time.Since(start)
	pubs.Wait()
	done := make(chan struct{})
	go func() { ended.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("clients still open after shutdown")
	}
	t.Logf("shutdown of %d SSE streams and %d WebSocket connections under load took %v (bound %v)", n, n, took, shutdownTimeout)

	var delivered, sent [2]int64 // by kind: SSE, WebSocket
	for i, res := range results {
		got, err := res.tl.count()
		delivered[i%2] += int64(got)
		sent[i%2] += published[i%2][i/2%shutdownTopics].Load()
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
		if want := before[i%2][i/2%shutdownTopics]; int64(got) < want {
			t.Errorf("client %d (%s): %d messages, but %d were published before Shutdown",
				i, []string{"sse", "ws"}[i%2], got, want)
		}
		if i%2 == 0 {
			if !errors.Is(res.end, io.EOF) {
				t.Errorf("sse client %d: stream ended with %v, want io.EOF (the end of the response)", i, res.end)
			}
		} else if code := closeCode(res.end); code != 1001 {
			t.Errorf("ws client %d: ended with %v, want close 1001", i, res.end)
		}
	}
	bs, hs := r.broker.Stats(), r.hub.Stats()
	t.Logf("SSE: %d messages delivered of %d published to its clients (the history keeps the rest for resume)",
		delivered[0], sent[0])
	t.Logf("WebSocket: %d messages delivered of %d published to its clients (the history keeps the rest for resume)",
		delivered[1], sent[1])
	if bs.Clients != 0 || hs.Clients != 0 {
		t.Errorf("after shutdown: %d streams and %d WebSocket connections left", bs.Clients, hs.Clients)
	}
	if _, err := r.broker.Publish("t0", sse.Event{Data: "late"}); !errors.Is(err, sse.ErrClosed) {
		t.Errorf("Publish after Shutdown = %v, want ErrClosed", err)
	}
	if _, err := r.hub.Publish("t0", ws.MessageText, []byte("late")); err == nil {
		t.Error("Hub.Publish after Shutdown succeeded")
	}
}
