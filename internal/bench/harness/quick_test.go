package harness

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/bench/servers"
	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestQuick runs every library through every scenario once with small
// counts (burst and crosstopic: the libraries with topics), on real
// sockets between real processes, and checks that every message arrived,
// in order, everywhere. It checks no timing.
func TestQuick(t *testing.T) {
	leakcheck.Check(t)
	exe := filepath.Join(t.TempDir(), "bench")
	build := exec.Command("go", "build", "-o", exe, "../cmd/bench")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	c := Quick
	c.Subs, c.MemConns, c.ScaleMax, c.ScaleStep = 200, 200, 400, 200
	c.BurstFrom, c.BurstTo, c.CrossSubs = 64, 128, 100
	c.Exe = []string{exe}
	var log bytes.Buffer
	c.Log = &log
	results, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s", log.String())
	seen := map[string]int{}
	for _, r := range results {
		seen[r.Lib]++
		if r.Err != "" {
			t.Errorf("%s %s: %s", r.Lib, r.Scenario, r.Err)
		}
		if r.Lost() > 0 || r.Bad > 0 {
			t.Errorf("%s %s: %d of %d lost, %d out of order", r.Lib, r.Scenario, r.Lost(), r.Expected, r.Bad)
		}
		if r.Expected == 0 && !(r.Scenario == Burst && r.BurstMax == 0) {
			t.Errorf("%s %s: nothing was expected, so nothing was checked", r.Lib, r.Scenario)
		}
		switch r.Scenario {
		case Memory:
			if r.Conns != c.MemConns {
				t.Errorf("%s memory: measured %d connections, want %d", r.Lib, r.Conns, c.MemConns)
			}
		case Scale:
			if r.Held != c.ScaleMax {
				t.Errorf("%s scale: held %d, want %d (%s)", r.Lib, r.Held, c.ScaleMax, r.ScaleNote)
			}
			if r.HasBeats && !r.Beats {
				t.Errorf("%s scale: a connection got no heartbeat", r.Lib)
			}
		case Burst:
			// How large a burst a library survives is what is
			// measured; that it was measured is what is checked.
			if r.BurstNote == "" {
				t.Errorf("%s burst: no outcome noted", r.Lib)
			}
			t.Logf("%s burst: largest survived %d: %s", r.Lib, r.BurstMax, r.BurstNote)
		case CrossTopic:
			if r.Rate == 0 || r.P99 == 0 {
				t.Errorf("%s crosstopic: fan-out %v deliveries/s, one-subscriber p99 %v: not measured", r.Lib, r.Rate, r.P99)
			}
		}
	}
	for _, lib := range servers.Libs() {
		want := len(Scenarios)
		if !lib.Topics {
			want -= len(ForTopics)
		}
		if seen[lib.Name] != want {
			t.Errorf("%s ran %d scenarios, want %d", lib.Name, seen[lib.Name], want)
		}
	}
	var tables bytes.Buffer
	WriteTables(&tables, Summarize(results), c)
	WriteTargets(&tables, Summarize(results), c)
	if !strings.Contains(tables.String(), "| library |") || !strings.Contains(tables.String(), "| largest burst |") {
		t.Errorf("no table written:\n%s", tables.String())
	}
	t.Logf("\n%s", tables.String())
}
