package harness

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestBaseline builds the servers against the library at HEAD, as
// -baseline does for any revision, and runs them beside the current ones
// in the same rounds: each contender's messages all arrive and the tables
// name the baseline.
func TestBaseline(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "bench")
	build := exec.Command("go", "build", "-o", exe, "../cmd/bench")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bexe, commit, err := BuildBaseline("..", "HEAD", filepath.Join(dir, "baseline"))
	if err != nil {
		t.Fatal(err)
	}
	if len(commit) != 40 {
		t.Errorf("BuildBaseline: commit %q is not a full hash", commit)
	}
	c := Quick
	c.Subs, c.BurstFrom, c.BurstTo = 50, 64, 64
	c.Exe = []string{exe}
	c.Baselines = map[string][]string{"HEAD": {bexe}}
	c.Libs = []string{"ours-sse", "ours-sse@HEAD", "ours-ws@HEAD"}
	c.Scenarios = []string{FanOut, Burst}
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
	}
	for _, name := range c.Libs {
		if seen[name] != len(c.Scenarios) {
			t.Errorf("%s ran %d scenarios, want %d", name, seen[name], len(c.Scenarios))
		}
	}
	var tables bytes.Buffer
	WriteTables(&tables, Summarize(results), c)
	for _, title := range []string{"realtime/sse @HEAD", "realtime/ws @HEAD"} {
		if !strings.Contains(tables.String(), "| "+title+" |") {
			t.Errorf("no row for %s:\n%s", title, tables.String())
		}
	}
	if _, err := resolve(c, "ours-sse@nowhere"); err == nil {
		t.Error("a baseline never built resolved")
	}
}
