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
// counts, on real sockets between real processes, and checks that every
// message arrived, in order, everywhere. It checks no timing.
func TestQuick(t *testing.T) {
	leakcheck.Check(t)
	exe := filepath.Join(t.TempDir(), "bench")
	build := exec.Command("go", "build", "-o", exe, "../cmd/bench")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	c := Quick
	c.Subs, c.MemConns, c.ScaleMax, c.ScaleStep = 200, 200, 400, 200
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
		if r.Expected == 0 {
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
		}
	}
	for _, lib := range servers.Libs() {
		if seen[lib.Name] != len(Scenarios) {
			t.Errorf("%s ran %d scenarios, want %d", lib.Name, seen[lib.Name], len(Scenarios))
		}
	}
	var tables bytes.Buffer
	WriteTables(&tables, Summarize(results), c)
	WriteTargets(&tables, Summarize(results), c)
	if !strings.Contains(tables.String(), "| library |") {
		t.Errorf("no table written:\n%s", tables.String())
	}
	t.Logf("\n%s", tables.String())
}
