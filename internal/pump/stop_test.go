package pump

import (
	"testing"
	"testing/synctest"
)

// TestStopFromRound: a round that stops its own pump (a writer whose write
// failed) does not deadlock; the idle function runs once, after the round
// returns, and Wakes after it start no round.
func TestStopFromRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p Pump
		rounds, idles := 0, 0
		inRound := false
		p.Init(func() {
			inRound = true
			rounds++
			p.Stop(func() {
				if inRound {
					t.Error("idle ran inside the round")
				}
				idles++
			})
			p.Wake() // queued by the failing write's own wake-ups
			inRound = false
		})
		p.Wake()
		synctest.Wait()
		p.Wake()
		synctest.Wait()
		if rounds != 1 || idles != 1 {
			t.Fatalf("%d rounds, idle ran %d times; want 1 and 1", rounds, idles)
		}
	})
}
