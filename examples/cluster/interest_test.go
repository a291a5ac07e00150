package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// Clients of new topics that arrive together, before the applier takes
// any of them, make a filtered node hold at most MaxTopics topics: the
// others get errInterest at once.
func TestInterestBoundedWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max, clients = 2, 5
		in := newInterest(max, time.Minute)
		ctx, cancel := context.WithCancel(t.Context())
		errs := make(chan error, clients)
		for i := range clients {
			go func() { errs <- in.acquire(ctx, []string{fmt.Sprint("t", i)}) }()
		}
		synctest.Wait() // each is waiting for the applier, or refused
		in.mu.Lock()
		held := len(in.refs)
		in.mu.Unlock()
		if held > max {
			t.Errorf("%d topics held for waiting clients, want at most %d", held, max)
		}
		refused := 0
		for range clients - max {
			if err := <-errs; errors.Is(err, errInterest) {
				refused++
			}
		}
		if refused != clients-max {
			t.Errorf("%d clients refused at once, want %d", refused, clients-max)
		}
		cancel()
		for range max {
			<-errs
		}
	})
}
