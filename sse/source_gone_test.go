package sse

import (
	"context"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// A client that goes away while its stream's writer waits on the
// HistorySource ends the Source's context, and its stream ends: nothing
// waits for a client that is gone.
func TestClientGoneDuringSourceReplay(t *testing.T) {
	for _, mode := range []string{"http1", "http1-takeover", "http2"} {
		t.Run(mode, func(t *testing.T) {
			leakcheck.Check(t)
			entered, ended := make(chan struct{}, 1), make(chan struct{}, 1)
			blocking := sourceFunc(func(ctx context.Context, _ []string, _, _ uint64, _ func(Record) bool) error {
				entered <- struct{}{}
				<-ctx.Done()
				ended <- struct{}{}
				return ctx.Err()
			})
			b := NewBroker(modeOptions(mode, BrokerOptions{Epoch: "cluster", History: blocking, HistorySize: 2}))
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				b.Shutdown(ctx)
			}()
			for range 5 {
				b.Publish("a", Event{Data: "x"})
			}
			ts, c := newModeServer(t, b, mode)
			resp, _ := open(t, c, ts.URL+"?topic=a", "Last-Event-ID", "cluster-1")
			<-entered
			resp.Body.Close()
			c.CloseIdleConnections()
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the Source's context did not end when the client went away")
			}
			waitfor.Cond(t, "the stream to end", waitTimeout, func() bool { return b.Stats().Clients == 0 })
		})
	}
}
