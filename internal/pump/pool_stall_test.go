package pump

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestPoolManyStalledRoundsDoNotQueueOthers: a thousand connections whose
// rounds block at once where only the handoff check sees it (streams
// written through an http.ResponseWriter, whose clients stopped reading
// and whose buffers filled at the same message) are ahead of a healthy
// one on the ready list. The healthy one's round must not wait for the
// stalled rounds to be handed off a few writers at a time (a thousand of
// them, two per Handoff, is seconds): the Pool starts writers faster than
// the stalls take them. The pumps are past their first rounds (pooled):
// a new pump's rounds run on a goroutine of its own and prove nothing.
func TestPoolManyStalledRoundsDoNotQueueOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool()
		pool.max = 2
		release := make(chan struct{})
		defer pool.Close()
		defer func() {
			select {
			case <-release:
			default:
				close(release)
			}
		}()
		const stalled = 1000
		pumps := make([]Pump, stalled)
		for i := range pumps {
			pooled(&pumps[i], pool, func() { <-release })
			pumps[i].Wake()
		}
		var ran atomic.Bool
		var fast Pump
		pooled(&fast, pool, func() { ran.Store(true) })
		fast.Wake()
		// Each step lets the handoff check run once more; a Pool that
		// hands stalled rounds off two at a time needs about 500.
		const maxSteps = 40
		steps := 0
		for synctest.Wait(); !ran.Load(); synctest.Wait() {
			if steps++; steps > maxSteps {
				t.Fatalf("the healthy round waited more than %d Handoff periods behind %d stalled rounds", maxSteps, stalled)
			}
			time.Sleep(Handoff)
		}
		t.Logf("the healthy round ran after %d Handoff periods", steps)
		close(release)
		synctest.Wait()
		time.Sleep(Linger)
		synctest.Wait()
		if w := writersOf(pool); w != 0 {
			t.Errorf("%d writers after Linger without work, want 0", w)
		}
	})
}

// TestPoolCloseStillHandsOff: a pump put on the ready list before Close,
// behind a round that stalls, is still handed to a writer of its own
// after Handoff: it does not wait for the stalled round (a write that
// ends at its timeout) to end.
func TestPoolCloseStillHandsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool()
		pool.max = 1
		release := make(chan struct{})
		var stalled, ready Pump
		pooled(&stalled, pool, func() { <-release })
		var ran atomic.Bool
		pooled(&ready, pool, func() { ran.Store(true) })
		stalled.Wake()
		synctest.Wait() // the only writer is in the stalled round
		ready.Wake()
		pool.Close()
		time.Sleep(3 * Handoff)
		synctest.Wait()
		if !ran.Load() {
			t.Error("a pump ready before Close waited behind a stalled round after 3 Handoff periods")
		}
		// The stalled round ends; the pumps that left the Pool linger,
		// then exit.
		close(release)
		time.Sleep(Linger)
		synctest.Wait()
	})
}
