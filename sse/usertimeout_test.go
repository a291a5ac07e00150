//go:build linux

package sse

import (
	"context"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/netopt"
)

// TestVanishedClientBound checks that a taken-over stream's socket drops
// data left unacknowledged for WriteTimeout, which is what frees a client
// that vanished without closing within Heartbeat + WriteTimeout.
func TestVanishedClientBound(t *testing.T) {
	leakcheck.Check(t)
	b := NewBroker(BrokerOptions{WriteTimeout: 3 * time.Second, TakeOver: true})
	ts, c := newServer(t, b, false)
	_, r := open(t, c, ts.URL+"?topic=t")
	if _, err := b.Publish("t", Event{Data: "x"}); err != nil {
		t.Fatal(err)
	}
	next(t, r)

	b.mu.Lock()
	var got []time.Duration
	for s := range b.streams {
		if out, ok := s.out.(*connSink); ok {
			d, err := netopt.UserTimeout(out.conn)
			if err != nil {
				t.Error(err)
			}
			got = append(got, d)
		}
	}
	b.mu.Unlock()
	if len(got) != 1 || got[0] != 3*time.Second {
		t.Errorf("user timeouts of taken-over streams = %v, want [3s]", got)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
