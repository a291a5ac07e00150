package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// libraryModule is the module path of the library the benchmark measures.
const libraryModule = "github.com/realtime-go/realtime"

// BuildBaseline builds this benchmark program, from the bench module in
// benchDir as it is now, against the library as it was at git revision rev
// (anything git rev-parse takes), and returns its path and the full commit
// hash. Everything goes under dir, which the caller removes: the library's
// tree at rev (git archive, so the repository and its worktrees are left
// alone), a copy of go.mod and go.sum whose replace points there (go build
// -modfile), and the program. Our servers use only the library's stable
// API (NewBroker, BrokerOptions, Publish and ServeHTTP in sse; NewHub,
// HubOptions, Publish and ServeHTTP in ws), so the same code builds
// against old and new revisions.
func BuildBaseline(benchDir, rev, dir string) (exe, commit string, err error) {
	run := func(wd string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = wd
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
		}
		return strings.TrimSpace(string(out)), nil
	}
	root, err := run(benchDir, "git", "rev-parse", "--show-toplevel")
	if err != nil {
		return "", "", err
	}
	commit, err = run(root, "git", "rev-parse", "--verify", rev+"^{commit}")
	if err != nil {
		return "", "", fmt.Errorf("harness: baseline %q: %w", rev, err)
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", "", err
	}
	tarball := filepath.Join(dir, "src.tar")
	if _, err := run(root, "git", "archive", "--format=tar", "-o", tarball, commit); err != nil {
		return "", "", err
	}
	if _, err := run(src, "tar", "-xf", tarball); err != nil {
		return "", "", err
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(benchDir, f))
		if err != nil {
			return "", "", err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return "", "", err
		}
	}
	modfile := filepath.Join(dir, "go.mod")
	if _, err := run(benchDir, "go", "mod", "edit", "-modfile="+modfile, "-replace="+libraryModule+"="+src); err != nil {
		return "", "", err
	}
	exe = filepath.Join(dir, "bench")
	// -mod=mod lets go build fill in the copied go.sum if the library's
	// requirements at rev differ; the module's own files are not touched.
	if _, err := run(benchDir, "go", "build", "-modfile="+modfile, "-mod=mod", "-o", exe, "./cmd/bench"); err != nil {
		return "", "", fmt.Errorf("harness: building against %s: %w", rev, err)
	}
	return exe, commit, nil
}
