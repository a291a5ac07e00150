// Command bench runs the side-by-side benchmark of realtime's sse and ws
// packages against peer libraries and the floors.
//
// Usage:
//
//	cd internal/bench && go run ./cmd/bench [flags]
//
// Flags:
//
//	-scenario all   fanout, latency, memory, scale, burst, crosstopic, or a comma
//	                list; all runs every one (burst and crosstopic run for ours,
//	                its baselines and the floors only); attack, or
//	                attack-CLASS (header-only, ping-flood, echo-large,
//	                resume-sse, resume-ws, slots, slow-headers, many-topics,
//	                deflate-bomb), runs hostile clients against ours and its
//	                baselines (not part of all)
//	-libs ""        comma list of libraries (ours-sse, ours-sse-takeover, handler-sse, hijack-sse, raw-sse, r3labs,
//	                tmaxmax, ours-ws, hijack-ws, raw-ws, gorilla, coder, gws, xnet,
//	                and NAME@REV of a -baseline); empty means all
//	-baseline REV   also run ours-sse@REV and ours-ws@REV (for each ours-* library
//	                chosen): the same servers built against the library at git
//	                revision REV, in the same rounds; a comma list for several
//	-rounds 3       rounds of each scenario (scale runs once); medians are reported
//	-subs 2000      subscribers in the fan-out and latency scenarios
//	-crosssubs 10000 subscribers of the fanned-out topic in the crosstopic scenario
//	-burstto 131072 the largest burst the burst scenario tries
//	-quick          a small run (200 subscribers, one round) that takes about two minutes
//	-out FILE       also write the tables, command and machine to FILE (e.g. RESULTS.md)
//	-h2 1000,10000  instead of the scenarios, SSE over HTTP/2 with TLS on loopback
//	                at these numbers of streams (100 to a connection), for -libs
//	                (default ours-sse,handler-sse): idle cost per stream and fan-out
//	-profile DIR    instead of the scenarios, profile each library given with -libs:
//	                CPU profiles of its server at 100 messages/s and under fan-out
//	                bursts (with a mutex profile), then its goroutines and heap
//	                with 5,000 idle connections more, all in DIR
//	                (BENCH_MEMPROFILERATE=1 in the environment records every
//	                allocation, BENCH_MUTEXPROFILEFRACTION=1 every contended lock;
//	                the default is one in ten)
//
// Each library's server runs in its own process (this program with -serve),
// and the subscribers are held by load processes (this program with -load),
// which connect over 127.0.0.1.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/realtime-go/realtime/internal/bench/harness"
	"github.com/realtime-go/realtime/internal/bench/load"
	"github.com/realtime-go/realtime/internal/bench/servers"
)

func main() {
	log.SetFlags(0)
	var (
		serve      = flag.String("serve", "", "run as the server process of this library")
		heartbeat  = flag.Duration("heartbeat", 0, "with -serve: keep-alive interval; 0 keeps the library's default")
		maxClients = flag.Int("maxclients", 0, "with -serve: our servers' MaxClients; 0 keeps the benchmark's")
		perAddr    = flag.Int("peraddr", 0, "with -serve: our servers' MaxClientsPerAddr; 0 keeps the default")
		tlsServe   = flag.Bool("tls", false, "with -serve: serve subscribers over TLS, offering HTTP/2")
		loadMode   = flag.Bool("load", false, "run as a load process (commands on stdin)")
		addr       = flag.String("addr", "", "with -load: server address")
		path       = flag.String("path", "", "with -load: subscribe path")
		kind       = flag.String("kind", "", "with -load: sse or ws")

		scenario = flag.String("scenario", "all", "scenarios: all, or a comma list of fanout, latency, memory, scale, burst, crosstopic")
		libs     = flag.String("libs", "", "comma list of libraries; empty means all")
		rounds   = flag.Int("rounds", 0, "rounds (default 3, or 1 with -quick)")
		subs     = flag.Int("subs", 0, "subscribers for fan-out and latency (default 2000, or 200 with -quick)")
		quick    = flag.Bool("quick", false, "small run")
		baseline = flag.String("baseline", "", "git revisions (comma list) to also run ours against, as ours-sse@REV and ours-ws@REV")
		cross    = flag.Int("crosssubs", 0, "subscribers of the fanned-out topic in the crosstopic scenario (default 10000, or 200 with -quick)")
		burstTo  = flag.Int("burstto", 0, "largest burst the burst scenario tries (default 131072, or 256 with -quick)")
		out      = flag.String("out", "", "also write the results to this markdown file")
		profile  = flag.String("profile", "", "profile the -libs servers under fan-out load into this directory")
		h2       = flag.String("h2", "", "instead of the scenarios, SSE over HTTP/2 with TLS at these numbers of streams (comma list) for -libs (default ours-sse,handler-sse)")
	)
	flag.Parse()
	switch {
	case *serve != "":
		err := servers.Serve(*serve, servers.Options{Heartbeat: *heartbeat, MaxClients: *maxClients, MaxClientsPerAddr: *perAddr, TLS: *tlsServe}, os.Stdin, os.Stdout)
		if err != nil {
			log.Fatal(err)
		}
		return
	case *loadMode:
		servers.RaiseFileLimit()
		if err := load.NewAgent(*addr, *path, *kind).Serve(os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := servers.RaiseFileLimit(); err != nil {
		log.Printf("cannot raise the open-file limit: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	c := harness.Full
	if *quick {
		c = harness.Quick
	}
	c.Exe = []string{exe}
	c.Log = os.Stderr
	if *rounds > 0 {
		c.Rounds = *rounds
	}
	if *subs > 0 {
		c.Subs = *subs
	}
	if *cross > 0 {
		c.CrossSubs = *cross
	}
	if *burstTo > 0 {
		c.BurstTo = *burstTo
	}
	if *libs != "" {
		c.Libs = strings.Split(*libs, ",")
	}
	if *baseline != "" {
		dir, err := os.MkdirTemp("", "bench-baseline-")
		if err != nil {
			fatal(err)
		}
		cleanup = func() { os.RemoveAll(dir) }
		defer cleanup()
		wd, err := os.Getwd()
		if err != nil {
			fatal(err)
		}
		c.Baselines = map[string][]string{}
		revs := strings.Split(*baseline, ",")
		for i, rev := range revs {
			sub := filepath.Join(dir, fmt.Sprint(i))
			log.Printf("building the servers against %s ...", rev)
			bexe, commit, err := harness.BuildBaseline(wd, rev, sub)
			if err != nil {
				fatal(err)
			}
			log.Printf("%s is commit %s", rev, commit)
			c.Baselines[rev] = []string{bexe}
		}
		c.Libs = withBaselines(c.Libs, revs)
	}
	var attacks []string
	if *scenario != "all" {
		c.Scenarios = nil
		for _, sc := range strings.Split(*scenario, ",") {
			if sc == "attack" || strings.HasPrefix(sc, harness.AttackPrefix) {
				attacks = append(attacks, sc)
			} else {
				c.Scenarios = append(c.Scenarios, sc)
			}
		}
	}
	if *profile != "" {
		if os.Getenv("BENCH_MUTEXPROFILEFRACTION") == "" {
			// The server processes inherit it: record one contended
			// lock in ten.
			os.Setenv("BENCH_MUTEXPROFILEFRACTION", "10")
		}
		if err := harness.Profile(c, *profile); err != nil {
			fatal(err)
		}
		return
	}
	before := loadAvg()
	start := time.Now()
	var buf bytes.Buffer
	if *h2 != "" {
		var streams []int
		for _, f := range strings.Split(*h2, ",") {
			var n int
			if _, err := fmt.Sscan(f, &n); err != nil || n <= 0 {
				fatal(fmt.Errorf("-h2: %q is not a number of streams", f))
			}
			streams = append(streams, n)
		}
		if *libs == "" {
			c.Libs = []string{"ours-sse", "handler-sse"}
		}
		results, err := harness.RunH2(c, streams)
		if err != nil {
			fatal(err)
		}
		harness.WriteH2(&buf, results, c)
		c.Scenarios, attacks = nil, nil
		fmt.Fprintf(&buf, "\nLoad average before: %s; after: %s\n", before, loadAvg())
		os.Stdout.Write(buf.Bytes())
		return
	}
	if len(c.Scenarios) > 0 || len(attacks) == 0 {
		results, err := harness.Run(c)
		if err != nil {
			fatal(err)
		}
		sums := harness.Summarize(results)
		harness.WriteTables(&buf, sums, c)
		harness.WriteTargets(&buf, sums, c)
	}
	if len(attacks) > 0 {
		results, err := harness.RunAttacks(c, attacks)
		if err != nil {
			fatal(err)
		}
		harness.WriteAttackTable(&buf, results)
	}
	os.Stdout.Write(buf.Bytes())
	if *out != "" {
		var doc bytes.Buffer
		writeHeader(&doc, start, before)
		doc.Write(buf.Bytes())
		if err := os.WriteFile(*out, doc.Bytes(), 0o644); err != nil {
			fatal(err)
		}
	}
}

// cleanup removes what the run built (the baselines) before the program
// exits.
var cleanup = func() {}

// fatal logs err and exits, after cleanup.
func fatal(err error) {
	cleanup()
	log.Fatal(err)
}

// withBaselines returns libs (every library when empty) with NAME@REV
// after each ours-* library NAME, for each of revs.
func withBaselines(libs, revs []string) []string {
	if len(libs) == 0 {
		for _, l := range servers.Libs() {
			libs = append(libs, l.Name)
		}
	}
	var out []string
	for _, name := range libs {
		out = append(out, name)
		if strings.HasPrefix(name, "ours-") && !strings.Contains(name, "@") {
			for _, rev := range revs {
				if !slices.Contains(libs, name+"@"+rev) {
					out = append(out, name+"@"+rev)
				}
			}
		}
	}
	return out
}

func writeHeader(w io.Writer, start time.Time, loadBefore string) {
	cmd := "go run ./cmd/bench " + strings.Join(os.Args[1:], " ")
	fmt.Fprintf(w, "# Benchmark results\n\n")
	fmt.Fprintf(w, "Command (in `internal/bench`): `%s`\n\n", strings.TrimSpace(cmd))
	fmt.Fprintf(w, "- date: %s (took %s)\n", start.UTC().Format("2006-01-02 15:04 MST"), time.Since(start).Round(time.Second))
	fmt.Fprintf(w, "- machine: %d CPUs (`nproc` %s), %s\n", runtime.NumCPU(), nproc(), cpuModel())
	fmt.Fprintf(w, "- Go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "- load average before: %s; after: %s (the machine is shared: other work running at the same time shows here)\n", loadBefore, loadAvg())
	fmt.Fprintf(w, "\nMedians over the rounds; ratios are to ours of the same protocol. Lost counts every message that did not arrive in order, over all rounds and scenarios.\n")
}

func nproc() string {
	b, err := exec.Command("nproc").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
