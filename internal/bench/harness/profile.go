package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ProfileSeconds is how long Profile records the CPU of a server.
const ProfileSeconds = 10

// Profile runs each library of c.Libs with c.Subs subscribers, first at
// c.Rate messages a second and then with fan-out bursts, for ProfileSeconds
// each while recording the server's CPU profile (LIB-latency-cpu.pprof,
// LIB-cpu.pprof; under the bursts also its contended locks,
// LIB-mutex.pprof, which the server records when the environment has
// BENCH_MUTEXPROFILEFRACTION, as -profile sets it), then
// saves its goroutines and heap profile (with c.MemConns idle connections
// added), into dir as LIB-goroutines.txt and LIB-heap.pprof.
func Profile(c Config, dir string) error {
	c.fill()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range c.Libs {
		ct, err := resolve(c, name)
		if err != nil {
			return err
		}
		if err := profileOne(c, ct, dir); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func profileOne(c Config, lib contender, dir string) error {
	s, err := open(c, lib, 0)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.connect(c.Subs, c.Subs); err != nil {
		return err
	}
	ctx := context.Background()
	// The latency workload: c.Rate messages a second for ProfileSeconds.
	lat := make(chan error, 1)
	go func() {
		lat <- s.srv.fetch(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", ProfileSeconds), filepath.Join(dir, lib.Name+"-latency-cpu.pprof"))
	}()
	n := c.Rate * ProfileSeconds
	_, rep, err := s.send(n, time.Second/time.Duration(c.Rate), true)
	if err != nil {
		return err
	}
	if err := <-lat; err != nil {
		return err
	}
	fmt.Fprintf(c.Log, "%s: latency p50 %v p99 %v max %v while profiled (%d of %d subscribers complete)\n", lib.Name,
		rep.Latency.Quantile(0.5), rep.Latency.Quantile(0.99), rep.Latency.Quantile(1), rep.Complete, c.Subs)
	cpu := make(chan error, 2)
	go func() {
		cpu <- s.srv.fetch(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", ProfileSeconds), filepath.Join(dir, lib.Name+"-cpu.pprof"))
	}()
	go func() {
		cpu <- s.srv.fetch(ctx, fmt.Sprintf("/debug/pprof/mutex?seconds=%d", ProfileSeconds), filepath.Join(dir, lib.Name+"-mutex.pprof"))
	}()
	deadline := time.Now().Add(ProfileSeconds * time.Second)
	var delivered uint64
	var busy time.Duration
	for time.Now().Before(deadline) {
		pub, rep, err := s.send(c.BurstSize, 0, false)
		if err != nil {
			return err
		}
		if rep.Complete < c.Subs {
			return fmt.Errorf("burst incomplete: %d of %d", rep.Complete, c.Subs)
		}
		delivered += rep.Got
		busy += time.Duration(rep.LastRecv - pub.FirstNs)
	}
	for range 2 {
		if err := <-cpu; err != nil {
			return err
		}
	}
	fmt.Fprintf(c.Log, "%s: %.0f deliveries/s while profiled, %d deliveries in the %d s of the CPU profile\n",
		lib.Name, float64(delivered)/busy.Seconds(), delivered, ProfileSeconds)
	if err := s.connect(c.MemConns, c.Subs+c.MemConns); err != nil {
		return err
	}
	if err := s.srv.fetch(ctx, "/debug/pprof/goroutine?debug=1", filepath.Join(dir, lib.Name+"-goroutines.txt")); err != nil {
		return err
	}
	return s.srv.fetch(ctx, "/debug/pprof/heap?gc=1", filepath.Join(dir, lib.Name+"-heap.pprof"))
}
