// Package harness runs the side-by-side benchmark: for each round, each
// scenario and each library in turn (A B C A B C ...), it starts the
// library's server as its own process, drives it from separate load
// processes over 127.0.0.1, and gathers the figures the report turns into
// medians and ratios to ours.
package harness

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/realtime-go/realtime/internal/bench/servers"
)

// Scenario names.
const (
	FanOut  = "fanout"
	Latency = "latency"
	Memory  = "memory"
	Scale   = "scale"
)

// Scenarios lists every scenario, in the order they run.
var Scenarios = []string{FanOut, Latency, Memory, Scale}

// Config is one benchmark run. Zero fields take the defaults of Full.
type Config struct {
	Exe       []string // command line that runs this program; children get -serve or -load added
	Libs      []string // library names; empty means every registered one
	Scenarios []string // scenario names; empty means all

	Rounds    int           // rounds of every scenario but scale, which runs once
	Subs      int           // subscribers for fan-out and latency
	Bursts    int           // fan-out bursts
	BurstSize int           // messages per burst
	Rate      int           // latency: messages per second
	Duration  time.Duration // latency: how long to publish
	MemConns  int           // idle connections for the memory scenario
	ScaleMax  int           // scale: most connections tried
	ScaleStep int           // scale: connections added per step
	Heartbeat time.Duration // scale: keep-alive interval for servers that have one
	PerLoad   int           // most connections one load process holds
	Wait      time.Duration // longest wait for a burst or a message to arrive everywhere

	Log io.Writer // progress lines; nil means none
}

// Full is the benchmark issue 5 asks for.
var Full = Config{
	Rounds: 3, Subs: 2000, Bursts: 5, BurstSize: 50,
	Rate: 100, Duration: 3 * time.Second, MemConns: 5000,
	ScaleMax: 19000, ScaleStep: 1000, Heartbeat: 5 * time.Second,
	PerLoad: 7000, Wait: 30 * time.Second,
}

// Quick is a run small enough for a couple of minutes.
var Quick = Config{
	Rounds: 1, Subs: 200, Bursts: 2, BurstSize: 50,
	Rate: 100, Duration: time.Second, MemConns: 500,
	ScaleMax: 1000, ScaleStep: 500, Heartbeat: time.Second,
	PerLoad: 7000, Wait: 20 * time.Second,
}

func (c *Config) fill() {
	d := Full
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&c.Rounds, d.Rounds)
	set(&c.Subs, d.Subs)
	set(&c.Bursts, d.Bursts)
	set(&c.BurstSize, d.BurstSize)
	set(&c.Rate, d.Rate)
	set(&c.MemConns, d.MemConns)
	set(&c.ScaleMax, d.ScaleMax)
	set(&c.ScaleStep, d.ScaleStep)
	set(&c.PerLoad, d.PerLoad)
	if c.Duration <= 0 {
		c.Duration = d.Duration
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = d.Heartbeat
	}
	if c.Wait <= 0 {
		c.Wait = d.Wait
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Result is what one library did in one scenario of one round.
type Result struct {
	Lib      string
	Scenario string
	Round    int
	Err      string // why the run could not finish; the figures are partial

	Expected  uint64 // messages that should have been delivered
	Delivered uint64 // messages delivered in order
	Bad       uint64 // out of order, duplicated or after a gap

	Rate           float64 // fan-out: deliveries per second
	WritesPerBurst float64 // fan-out: the server's write system calls per subscriber per burst (1 when a burst is one write)

	P50, P99, Max time.Duration // latency, from when a message was due to its receipt
	PubRate       float64       // latency: messages per second the server managed to publish

	Conns        int     // memory: idle connections held
	RSSPerConn   float64 // memory: bytes of resident set per connection
	HeapPerConn  float64 // memory: bytes of Go heap and stacks per connection
	StackPerConn float64 // memory: bytes of goroutine stacks per connection (part of HeapPerConn)
	GoPerConn    float64 // memory: goroutines per connection

	ServerCPU time.Duration // CPU time of the server process, whole run
	LoadCPU   time.Duration // CPU time of the load processes, whole run

	Held      int  // scale: most connections held with every one receiving
	Beats     bool // scale: every connection got a heartbeat at Held
	HasBeats  bool // scale: the library sends heartbeats
	ScaleNote string
}

// Lost returns the messages that did not arrive in order.
func (r Result) Lost() uint64 {
	if r.Delivered >= r.Expected {
		return 0
	}
	return r.Expected - r.Delivered
}

// Run runs the benchmark and returns every result, in the order they ran.
func Run(c Config) ([]Result, error) {
	c.fill()
	var libs []servers.Lib
	if len(c.Libs) == 0 {
		libs = servers.Libs()
	} else {
		for _, name := range c.Libs {
			l, err := servers.Lookup(name)
			if err != nil {
				return nil, err
			}
			libs = append(libs, l)
		}
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return nil, fmt.Errorf("harness: no scenario %q", s)
		}
	}
	var out []Result
	for round := 1; round <= c.Rounds; round++ {
		for _, sc := range c.Scenarios {
			if sc == Scale && round > 1 {
				continue
			}
			for _, lib := range libs {
				start := time.Now()
				r := runOne(c, lib, sc)
				r.Round = round
				out = append(out, r)
				fmt.Fprintf(c.Log, "round %d %-8s %-9s %6.1fs %s\n", round, sc, lib.Name, time.Since(start).Seconds(), r.summary())
			}
		}
	}
	return out, nil
}

func (r Result) summary() string {
	s := ""
	switch r.Scenario {
	case FanOut:
		s = fmt.Sprintf("%.0f deliveries/s, %.1f writes per subscriber per burst, lost %d", r.Rate, r.WritesPerBurst, r.Lost())
	case Latency:
		s = fmt.Sprintf("p50 %v p99 %v max %v, published %.0f/s, lost %d", r.P50, r.P99, r.Max, r.PubRate, r.Lost())
	case Memory:
		s = fmt.Sprintf("%d conns: RSS %.1f KiB/conn, heap+stacks %.1f KiB/conn (stacks %.1f KiB, %.1f goroutines per conn), lost %d",
			r.Conns, r.RSSPerConn/1024, r.HeapPerConn/1024, r.StackPerConn/1024, r.GoPerConn, r.Lost())
	case Scale:
		s = fmt.Sprintf("held %d (beats %v/%v) %s", r.Held, r.HasBeats, r.Beats, r.ScaleNote)
	}
	if r.Bad > 0 {
		s += fmt.Sprintf(", %d out of order", r.Bad)
	}
	s += fmt.Sprintf(" [CPU: server %.2fs, load %.2fs]", r.ServerCPU.Seconds(), r.LoadCPU.Seconds())
	if r.Err != "" {
		s += " ERROR: " + r.Err
	}
	return s
}
