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
	"strings"
	"time"

	"github.com/realtime-go/realtime/internal/bench/servers"
)

// Scenario names.
const (
	FanOut     = "fanout"
	Latency    = "latency"
	Memory     = "memory"
	Scale      = "scale"
	Burst      = "burst"
	CrossTopic = "crosstopic"
)

// Scenarios lists every scenario, in the order they run.
var Scenarios = []string{FanOut, Latency, Memory, Scale, Burst, CrossTopic}

// ForTopics says which scenarios run only for the libraries with topics
// (ours, its baselines and the floors): the others are skipped for
// the rest.
var ForTopics = map[string]bool{Burst: true, CrossTopic: true}

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

	BurstSubs int // burst: fast subscribers
	BurstFrom int // burst: the first burst's messages, doubled at each step
	BurstTo   int // burst: the most messages in one burst
	CrossSubs int // crosstopic: subscribers of the fanned-out topic

	// Baselines maps a git revision to the command line of this program
	// built against the library at that revision (BuildBaseline). A
	// library named "ours-sse@REV" runs its server with it.
	Baselines map[string][]string

	Log io.Writer // progress lines; nil means none
}

// Full is the benchmark issue 5 asks for.
var Full = Config{
	Rounds: 3, Subs: 2000, Bursts: 5, BurstSize: 50,
	Rate: 100, Duration: 3 * time.Second, MemConns: 5000,
	ScaleMax: 19000, ScaleStep: 1000, Heartbeat: 5 * time.Second,
	PerLoad: 7000, Wait: 30 * time.Second,
	BurstSubs: 4, BurstFrom: 1024, BurstTo: 131072, CrossSubs: 10000,
}

// Quick is a run small enough for a couple of minutes.
var Quick = Config{
	Rounds: 1, Subs: 200, Bursts: 2, BurstSize: 50,
	Rate: 100, Duration: time.Second, MemConns: 500,
	ScaleMax: 1000, ScaleStep: 500, Heartbeat: time.Second,
	PerLoad: 7000, Wait: 20 * time.Second,
	BurstSubs: 2, BurstFrom: 64, BurstTo: 256, CrossSubs: 200,
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
	set(&c.BurstSubs, d.BurstSubs)
	set(&c.BurstFrom, d.BurstFrom)
	set(&c.BurstTo, d.BurstTo)
	set(&c.CrossSubs, d.CrossSubs)
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

	Rate           float64 // fan-out: deliveries per second; crosstopic: of the fanned-out topic
	WritesPerBurst float64 // fan-out: the server's write system calls per subscriber per burst (1 when a burst is one write)

	P50, P99, Max time.Duration // latency (crosstopic: of the one-subscriber topic), from when a message was due to its receipt
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

	BurstMax  int    // burst: the largest burst every subscriber got all of, with none ended
	BurstNote string // burst: what happened at the next size, if one failed
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
	libs, err := contenders(c)
	if err != nil {
		return nil, err
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
				if ForTopics[sc] && !lib.Topics {
					continue
				}
				start := time.Now()
				r := runOne(c, lib, sc)
				r.Round = round
				out = append(out, r)
				fmt.Fprintf(c.Log, "round %d %-10s %-16s %6.1fs %s\n", round, sc, lib.Name, time.Since(start).Seconds(), r.summary())
			}
		}
	}
	return out, nil
}

// contender is a library as a run sets it up: its server runs exe with
// -serve serve.
type contender struct {
	servers.Lib
	exe   []string
	serve string
}

// contenders resolves c.Libs, "NAME@REV" included, in order.
func contenders(c Config) ([]contender, error) {
	var out []contender
	if len(c.Libs) == 0 {
		for _, l := range servers.Libs() {
			out = append(out, contender{Lib: l, exe: c.Exe, serve: l.Name})
		}
		return out, nil
	}
	for _, name := range c.Libs {
		ct, err := resolve(c, name)
		if err != nil {
			return nil, err
		}
		out = append(out, ct)
	}
	return out, nil
}

// resolve returns the contender called name: a library, or "NAME@REV",
// library NAME served by the program c.Baselines built for REV.
func resolve(c Config, name string) (contender, error) {
	l, err := lookup(name)
	if err != nil {
		return contender{}, err
	}
	ct := contender{Lib: l, exe: c.Exe, serve: l.Name}
	if base, rev, ok := strings.Cut(name, "@"); ok {
		exe, ok := c.Baselines[rev]
		if !ok {
			return contender{}, fmt.Errorf("harness: %s: no baseline built for revision %q", name, rev)
		}
		ct.exe, ct.serve = exe, base
	}
	return ct, nil
}

// lookup returns the library called name; "NAME@REV" is library NAME
// renamed, with a title that names the revision.
func lookup(name string) (servers.Lib, error) {
	base, rev, ok := strings.Cut(name, "@")
	l, err := servers.Lookup(base)
	if err != nil || !ok {
		return l, err
	}
	if rev == "" {
		return l, fmt.Errorf("harness: %q names no revision", name)
	}
	l.Name = name
	t := strings.ReplaceAll(strings.ReplaceAll(l.Title, "**", ""), " (ours)", "")
	l.Title = t + " @" + rev
	return l, nil
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
	case Burst:
		s = fmt.Sprintf("largest burst survived %d; %s", r.BurstMax, r.BurstNote)
	case CrossTopic:
		s = fmt.Sprintf("one-subscriber topic p50 %v p99 %v max %v; the other topic %.0f deliveries/s; lost %d", r.P50, r.P99, r.Max, r.Rate, r.Lost())
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
