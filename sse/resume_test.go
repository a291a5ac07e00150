package sse

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestBrokerResumeUnderLoad: streams of two topics that disconnect and
// resume from the last ID read, while three publishers burst on three
// topics, get every event of their two topics once, in order, with no gap,
// in every mode.
func TestBrokerResumeUnderLoad(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			leakcheck.Check(t)
			b := NewBroker(modeOptions(mode, BrokerOptions{Epoch: "ep"}))
			ts, c := newModeServer(t, b, mode)
			const perTopic, resumers = 400, 2
			errs := make(chan error, resumers+3)
			var wg sync.WaitGroup
			for i := range resumers {
				wg.Go(func() {
					if err := resumeUntil(c, ts.URL+"?topic=a&topic=b", 2*perTopic, 40+7*i); err != nil {
						errs <- fmt.Errorf("stream %d: %w", i, err)
					}
				})
			}
			var pubs sync.WaitGroup
			for _, topic := range []string{"a", "b", "c"} {
				pubs.Go(func() {
					for i := range perTopic {
						if _, err := b.Publish(topic, Event{Data: fmt.Sprint(topic, i)}); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			pubs.Wait()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			b.Shutdown(t.Context())
		})
	}
}

// resumeUntil reads want events from url, reconnecting after every
// perConn events with the last ID read (from "ep-0" at first), and checks
// that IDs grow and that no gap comes.
func resumeUntil(c *http.Client, url string, want, perConn int) error {
	last, prev, got := "ep-0", uint64(0), 0
	for got < want {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Last-Event-ID", last)
		resp, err := c.Do(req)
		if err != nil {
			cancel()
			return err
		}
		r := NewReader(resp.Body)
		for n := 0; n < perConn && got < want; n++ {
			ev, err := r.Next()
			if err != nil {
				resp.Body.Close()
				cancel()
				return fmt.Errorf("after %d events, resumed from %s: %w", got, last, err)
			}
			if ev.Type == GapEvent {
				resp.Body.Close()
				cancel()
				return fmt.Errorf("gap %q after %s", ev.Data, last)
			}
			seq, err := strconv.ParseUint(strings.TrimPrefix(ev.ID, "ep-"), 10, 64)
			if err != nil || seq <= prev {
				resp.Body.Close()
				cancel()
				return fmt.Errorf("ID %q after %d", ev.ID, prev)
			}
			prev, last = seq, ev.ID
			got++
		}
		resp.Body.Close()
		cancel()
	}
	return nil
}
