package pump

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// pooled is InitIn for a pump whose first rounds are over: its rounds
// run on the Pool.
func pooled(p *Pump, pool *Pool, round func()) {
	p.InitIn(pool, round)
	p.alone = false
}

// writersOf returns how many writers p counts, parked or busy.
func writersOf(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.writers)
}

// TestPoolRunsRoundsOnFewWriters: the rounds of many pumps run on at most
// the Pool's writers, never overlap for one pump, and every Wake is
// followed by a round that starts after it.
func TestPoolRunsRoundsOnFewWriters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool()
		pool.max = 2
		const n = 100
		pumps := make([]Pump, n)
		var pending, written [n]atomic.Int64
		var inRound [n]atomic.Bool
		var mu sync.Mutex
		goroutines := map[string]bool{}
		for i := range pumps {
			pooled(&pumps[i], pool, func() {
				if inRound[i].Swap(true) {
					t.Errorf("rounds of pump %d overlap", i)
				}
				mu.Lock()
				goroutines[goid()] = true
				mu.Unlock()
				written[i].Store(pending[i].Load())
				inRound[i].Store(false)
			})
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 20 {
					for i := range pumps {
						pending[i].Add(1)
						pumps[i].Wake()
					}
				}
			})
		}
		wg.Wait()
		synctest.Wait()
		for i := range pumps {
			if w := written[i].Load(); w != 80 {
				t.Errorf("pump %d: last round saw %d of 80 wakes", i, w)
			}
		}
		if len(goroutines) > 2 {
			t.Errorf("rounds ran on %d goroutines, want at most the Pool's 2 writers", len(goroutines))
		}
		time.Sleep(Linger)
		synctest.Wait()
		if w := writersOf(pool); w != 0 {
			t.Errorf("%d writers after Linger without work, want 0", w)
		}
	})
}

// TestPoolWriterStaysWarm: rounds of bursts within Linger of each other
// run on the same writer goroutine, not a new one each time.
func TestPoolWriterStaysWarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool()
		pool.max = 1
		var ids []string
		var a, b Pump
		pooled(&a, pool, func() { ids = append(ids, goid()) })
		pooled(&b, pool, func() { ids = append(ids, goid()) })
		for range 3 {
			a.Wake()
			b.Wake()
			synctest.Wait()
			time.Sleep(Linger / 2)
		}
		if len(ids) != 6 {
			t.Fatalf("%d rounds, want 6", len(ids))
		}
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("rounds ran on goroutines %v, want one warm writer", ids)
			}
		}
		pool.Close()
	})
}

// TestPoolSlowRoundHandsOff: a round that blocks (a client that does not
// read) holds its writer for at most about two Handoff periods; then
// another writer runs the other pumps' rounds, and the one counted out
// exits after its round, the Pool having its writers.
func TestPoolSlowRoundHandsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool()
		pool.max = 1
		release := make(chan struct{})
		var slow, fast Pump
		pooled(&slow, pool, func() { <-release })
		var fastRounds atomic.Int32
		pooled(&fast, pool, func() { fastRounds.Add(1) })
		slow.Wake()
		synctest.Wait() // the only writer is in slow's round
		fast.Wake()
		synctest.Wait()
		if n := fastRounds.Load(); n != 0 {
			t.Fatalf("%d rounds of fast while the only writer is held, want 0", n)
		}
		time.Sleep(2 * Handoff)
		synctest.Wait()
		if n := fastRounds.Load(); n != 1 {
			t.Fatalf("%d rounds of fast after 2*Handoff, want 1: a slow round still holds the Pool's writer", n)
		}
		fast.Wake()
		synctest.Wait()
		if n := fastRounds.Load(); n != 2 {
			t.Fatalf("%d rounds of fast, want 2", n)
		}
		close(release)
		synctest.Wait()
		if w := writersOf(pool); w != 1 {
			t.Errorf("%d writers, want 1: the writer counted out exits once the Pool has its writers", w)
		}
		pool.Close()
	})
}

// TestPoolClose: Close ends the parked writers at once, without Linger
// passing; a pump woken after Close still gets its round, on a goroutine
// of its own; Stop of a pump waiting on the ready list calls idle.
func TestPoolClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool()
		var rounds atomic.Int32
		var p Pump
		pooled(&p, pool, func() { rounds.Add(1) })
		p.Wake()
		synctest.Wait()
		start := time.Now()
		pool.Close()
		synctest.Wait()
		if w := writersOf(pool); w != 0 {
			t.Errorf("%d writers after Close, want 0", w)
		}
		if !time.Now().Equal(start) {
			t.Error("Close waited for time to pass")
		}
		p.Wake()
		synctest.Wait()
		if n := rounds.Load(); n != 2 {
			t.Errorf("%d rounds, want 2: a Wake after Close runs its round", n)
		}
		idle := make(chan struct{})
		p.Stop(func() { close(idle) })
		<-idle
	})
}

// TestPoolStopWhileReady: a pump stopped while it waits on the ready list
// runs no round, and its idle function is called by the writer that takes
// it.
func TestPoolStopWhileReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool()
		pool.max = 1
		release := make(chan struct{})
		var blocker, p Pump
		pooled(&blocker, pool, func() { <-release })
		var rounds atomic.Int32
		pooled(&p, pool, func() { rounds.Add(1) })
		blocker.Wake()
		synctest.Wait()
		p.Wake() // waits on the ready list behind blocker's round
		idle := make(chan struct{})
		p.Stop(func() { close(idle) })
		close(release)
		<-idle
		if n := rounds.Load(); n != 0 {
			t.Errorf("%d rounds after Stop, want 0", n)
		}
		pool.Close()
	})
}

// TestPoolReadyListReusesStorage: a ready list that never empties (wakers
// add while writers take) keeps storage for what it holds, not for every
// pump ever put on it.
func TestPoolReadyListReusesStorage(t *testing.T) {
	pool := NewPool()
	var pu Pump
	pool.mu.Lock()
	defer pool.mu.Unlock()
	for range 100 {
		pool.appendLocked(&pu)
	}
	for range 100_000 {
		pool.appendLocked(&pu)
		if pool.nextLocked() == nil {
			t.Fatal("the ready list emptied")
		}
	}
	if c := cap(pool.ready); c > 1000 {
		t.Errorf("the ready list holds 100 pumps in storage for %d", c)
	}
}

// TestPoolSlowPumpRunsAlone: once a pump's round was counted out, its
// later rounds run on a goroutine of its own, so that its client blocking
// again holds no writer of the Pool even for Handoff; once that goroutine
// had nothing to write for Linger, the pump is back on the Pool.
func TestPoolSlowPumpRunsAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool()
		pool.max = 1
		block := make(chan chan struct{}, 2)
		var slow, fast Pump
		pooled(&slow, pool, func() {
			select {
			case release := <-block:
				<-release
			default:
			}
		})
		var fastRounds atomic.Int32
		pooled(&fast, pool, func() { fastRounds.Add(1) })

		first := make(chan struct{})
		block <- first
		slow.Wake()
		synctest.Wait()
		time.Sleep(2*Handoff + time.Millisecond) // slow's round is counted out
		close(first)
		synctest.Wait()

		second := make(chan struct{})
		block <- second
		slow.Wake() // blocks again, on a goroutine of its own
		synctest.Wait()
		fast.Wake()
		synctest.Wait()
		if n := fastRounds.Load(); n != 1 {
			t.Fatalf("%d rounds of fast while slow blocks again, want 1 at once: slow holds the Pool's writer", n)
		}
		close(second)
		time.Sleep(Linger + time.Millisecond)
		synctest.Wait()
		slow.mu.Lock()
		alone := slow.alone
		slow.mu.Unlock()
		if alone {
			t.Error("slow still runs alone after Linger without work")
		}
		pool.Close()
	})
}

// TestPoolFirstRoundsAlone: a new pump's first rounds (a resume's replay to
// a client that may not read) run on a goroutine of its own, and hold no
// writer of the Pool while they block.
func TestPoolFirstRoundsAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool()
		pool.max = 1
		release := make(chan struct{})
		var replay, fast Pump
		replay.InitIn(pool, func() { <-release })
		var fastRounds atomic.Int32
		pooled(&fast, pool, func() { fastRounds.Add(1) })
		replay.Wake()
		synctest.Wait()
		fast.Wake()
		synctest.Wait()
		if n := fastRounds.Load(); n != 1 {
			t.Fatalf("%d rounds of fast while a new pump's first round blocks, want 1 at once", n)
		}
		close(release)
		time.Sleep(Linger + time.Millisecond)
		synctest.Wait()
		replay.mu.Lock()
		alone := replay.alone
		replay.mu.Unlock()
		if alone {
			t.Error("the new pump still runs alone after Linger without work")
		}
		pool.Close()
	})
}
