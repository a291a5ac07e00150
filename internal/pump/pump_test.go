package pump

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestRoundsFollowWakes: every Wake is followed by a round that starts
// after it; rounds never overlap; an idle pump holds no goroutine.
func TestRoundsFollowWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p Pump
		var pending, written atomic.Int64
		var inRound atomic.Bool
		p.Init(func() {
			if inRound.Swap(true) {
				t.Error("rounds overlap")
			}
			written.Store(pending.Load())
			inRound.Store(false)
		})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					pending.Add(1)
					p.Wake()
				}
			})
		}
		wg.Wait()
		synctest.Wait() // every goroutine of the bubble idle: the pump's lingers
		if w := written.Load(); w != 800 {
			t.Errorf("last round saw %d of 800 wakes", w)
		}
		time.Sleep(Linger)
		synctest.Wait()
		p.mu.Lock()
		running := p.running
		p.mu.Unlock()
		if running {
			t.Error("the pump's goroutine still runs after Linger")
		}
	})
}

// goid returns the calling goroutine's number, from its stack's header.
func goid() string {
	buf := make([]byte, 64)
	f := strings.Fields(string(buf[:runtime.Stack(buf, false)]))
	return f[1]
}

// TestWriterLingers: a Wake within Linger of the last round runs its round
// on the same goroutine (warm: nothing started, its stack as grown); one
// after Linger, on a new one; Stop ends a lingering goroutine at once.
func TestWriterLingers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p Pump
		var ids []string
		p.Init(func() { ids = append(ids, goid()) })
		p.Wake()
		synctest.Wait()
		time.Sleep(Linger / 2)
		p.Wake()
		synctest.Wait()
		time.Sleep(Linger + time.Millisecond)
		p.Wake()
		synctest.Wait()
		if len(ids) != 3 {
			t.Fatalf("%d rounds, want 3", len(ids))
		}
		if ids[0] != ids[1] {
			t.Errorf("a Wake within Linger ran on goroutine %s, not the lingering %s", ids[1], ids[0])
		}
		if ids[2] == ids[1] {
			t.Errorf("a Wake after Linger ran on goroutine %s, which should have exited", ids[2])
		}
		idle := make(chan struct{})
		p.Stop(func() { close(idle) })
		<-idle // without time passing: Stop woke the lingering goroutine
	})
}

// TestStopWaitsForTheRound: the idle function runs once the running round
// returns, and no round starts after Stop.
func TestStopWaitsForTheRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p Pump
		release := make(chan struct{})
		entered := make(chan struct{})
		var rounds atomic.Int32
		p.Init(func() {
			if rounds.Add(1) == 1 {
				close(entered)
				<-release
			}
		})
		p.Wake()
		<-entered
		idle := make(chan struct{})
		p.Stop(func() { close(idle) })
		p.Wake()
		synctest.Wait()
		select {
		case <-idle:
			t.Fatal("idle ran while a round was running")
		default:
		}
		close(release)
		<-idle
		p.Wake()
		synctest.Wait()
		if n := rounds.Load(); n != 1 {
			t.Errorf("%d rounds, want 1: none after Stop", n)
		}
		stopped := false
		p.Stop(func() { stopped = true })
		if stopped {
			t.Error("a second Stop called its idle function")
		}
	})
}

// TestStopWhenIdle calls idle at once.
func TestStopWhenIdle(t *testing.T) {
	var p Pump
	p.Init(func() {})
	called := false
	p.Stop(func() { called = true })
	if !called {
		t.Fatal("idle not called on an idle pump")
	}
}
