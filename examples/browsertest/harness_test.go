package browsertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Bounds of the harness. Each one is a deadline for something the test
// waits on, never a sleep.
const (
	// testTimeout bounds one whole browser test.
	testTimeout = 60 * time.Second
	// startTimeout bounds the wait for a server to say it is listening.
	startTimeout = 20 * time.Second
	// stopTimeout bounds a server's graceful shutdown after SIGTERM.
	stopTimeout = 10 * time.Second
	// waitTimeout bounds one wait for a condition on a page.
	waitTimeout = 15 * time.Second
	// maxLogLines bounds the server log lines kept for a failure report.
	maxLogLines = 400
)

// defaultChromium is Debian's chromium; CHROMIUM overrides it.
const defaultChromium = "/usr/bin/chromium"

// repoRoot returns the root of the core module, two folders up.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("core module not found at %s: %v", root, err)
	}
	return root
}

// buildExample builds examples/<name> of the core module, with the race
// detector, into a temporary folder and returns the binary's path.
func buildExample(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-race", "-o", bin, "./examples/"+name)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/%s: %v\n%s", name, err, out)
	}
	return bin
}

// A server is one example binary running as a child process.
type server struct {
	t    testing.TB
	bin  string
	args []string
	addr string // host:port, fixed by the first start

	mu      sync.Mutex
	logs    []string
	running bool
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// listening matches the line every example logs once its listener is open.
var listening = regexp.MustCompile(`listening.*addr=(\S+)`)

// startServer starts bin with args and -addr 127.0.0.1:0, and waits until it
// logs the address it listens on. The server is stopped when the test ends.
func startServer(t testing.TB, bin string, args ...string) *server {
	t.Helper()
	s := &server{t: t, bin: bin, args: args, addr: "127.0.0.1:0"}
	t.Cleanup(func() {
		if s.isRunning() {
			s.stop()
		}
		if t.Failed() {
			s.mu.Lock()
			t.Logf("server log:\n%s", strings.Join(s.logs, "\n"))
			s.mu.Unlock()
		}
	})
	s.start()
	return s
}

func (s *server) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// start runs the binary on s.addr; after the first start that is the same
// port every time.
func (s *server) start(extra ...string) {
	s.t.Helper()
	args := append([]string{"-addr", s.addr}, s.args...)
	args = append(args, extra...)
	cmd := exec.Command(s.bin, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.bin, err)
	}
	ready := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.log(line)
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited, s.exitErr, s.running = cmd, exited, nil, true
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-scanned
		s.mu.Lock()
		s.exitErr = err
		s.mu.Unlock()
		close(exited)
	}()
	select {
	case addr := <-ready:
		s.addr = addr
	case <-exited:
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
		s.t.Fatalf("%s exited before listening: %v", filepath.Base(s.bin), s.exitErr)
	case <-time.After(startTimeout):
		s.kill()
		s.t.Fatalf("%s did not listen within %v", filepath.Base(s.bin), startTimeout)
	}
}

func (s *server) log(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.logs) == maxLogLines {
		s.logs = s.logs[1:]
	}
	s.logs = append(s.logs, line)
}

// stop sends SIGTERM and waits for a clean exit: status 0, which also means
// the race detector found nothing.
func (s *server) stop() {
	s.t.Helper()
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Errorf("signal: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		s.kill()
		s.t.Errorf("%s did not stop within %v of SIGTERM", filepath.Base(s.bin), stopTimeout)
		return
	}
	s.mu.Lock()
	s.running = false
	err := s.exitErr
	s.mu.Unlock()
	if err != nil {
		s.t.Errorf("%s exited with %v", filepath.Base(s.bin), err)
	}
}

// kill ends the process at once and waits for it.
func (s *server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	cmd.Process.Kill()
	<-exited
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
}

// restart stops the server and starts it again on the same port, with extra
// arguments added for the new run.
func (s *server) restart(extra ...string) {
	s.t.Helper()
	s.stop()
	s.start(extra...)
}

// url returns the address of path on the server.
func (s *server) url(path string) string {
	return "http://" + s.addr + path
}

// newBrowser starts a headless Chromium with a fresh profile for the test
// and returns its context, bounded by testTimeout. Uncaught exceptions in
// any page of it fail the test.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	exe := os.Getenv("CHROMIUM")
	if exe == "" {
		exe = defaultChromium
	}
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("chromium not found (install Debian's chromium, or set CHROMIUM): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		bcancel()
		// Wait for the browser process to go, so no goroutine or child
		// outlives the test.
		chromedp.Cancel(bctx)
	})
	// Start the browser now, with a blank first tab.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// A tab is one page of the browser, with the exceptions it threw.
type tab struct {
	t    testing.TB
	name string
	ctx  context.Context
}

// newTab opens a new tab in the browser of bctx and navigates it to url.
func newTab(t testing.TB, bctx context.Context, name, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	tb := &tab{t: t, name: name, ctx: ctx}
	t.Cleanup(func() {
		// A failed test leaves a picture of each page for a person to see.
		if t.Failed() && ctx.Err() == nil {
			if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
				dir := filepath.Join(repoRoot(t), ".artifacts")
				os.MkdirAll(dir, 0o755)
				path := filepath.Join(dir, "failed-"+t.Name()+"-"+name+".png")
				os.WriteFile(path, png, 0o644)
				t.Logf("%s: screenshot of the failure: %s", name, path)
			}
		}
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	var mu sync.Mutex
	failed := false
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			mu.Lock()
			defer mu.Unlock()
			if !failed {
				failed = true
				d := ev.ExceptionDetails
				desc := d.Text
				if d.Exception != nil {
					desc += " " + d.Exception.Description
				}
				t.Errorf("%s: uncaught exception at %s:%d: %s", name, d.URL, d.LineNumber+1, desc)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				t.Logf("%s: console.error: %s", name, strings.Join(parts, " "))
			}
		}
	})
	if err != nil {
		t.Fatalf("%s: listen: %v", name, err)
	}
	tb.do("navigate "+url, chromedp.Navigate(url))
	return tb
}

// do runs actions on the tab and fails the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// waitJS waits until the JavaScript expression is truthy, re-checking on
// every DOM mutation and animation frame, for at most waitTimeout.
func (tb *tab) waitJS(what, expr string) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(waitTimeout)))
	if err != nil {
		tb.t.Fatalf("%s: waiting for %s (%s): %v", tb.name, what, expr, err)
	}
}

// eval evaluates a JavaScript expression on the tab into a T.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("%s: eval %s: %v", tb.name, expr, err)
	}
	return v
}

// screenshot writes a PNG of the tab's page to .artifacts/<name>.png at the
// root of the repository and returns its path.
func (tb *tab) screenshot(name string) string {
	tb.t.Helper()
	return tb.screenshotSized(name, 1280, 900)
}

// screenshotSized is screenshot with the viewport set to width x height
// first; the page stays at that size afterwards.
func (tb *tab) screenshotSized(name string, width, height int64) string {
	tb.t.Helper()
	tb.do("resize", chromedp.EmulateViewport(width, height))
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("%s: screenshot: %v", tb.name, err)
	}
	dir := filepath.Join(repoRoot(tb.t), ".artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot: %s", path)
	return path
}

// screenshotDark is screenshotSized with the page in its dark colour
// scheme; the page goes back to its light one afterwards.
func (tb *tab) screenshotDark(name string, width, height int64) string {
	tb.t.Helper()
	scheme := func(value string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: value}},
			})
			return err
		})
	}
	tb.do("dark colour scheme", scheme("dark"))
	defer tb.do("light colour scheme", scheme("light"))
	return tb.screenshotSized(name, width, height)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return fmt.Sprintf("%q", s)
}

// lastLog returns the first submatch of re in the last server log line
// that matches it, or "".
func (s *server) lastLog(re *regexp.Regexp) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.logs) - 1; i >= 0; i-- {
		if m := re.FindStringSubmatch(s.logs[i]); m != nil {
			return m[1]
		}
	}
	return ""
}

// chromedpClick clicks the first element matching a CSS selector, once
// there is one.
func chromedpClick(sel string) chromedp.Action[chromedp.Void] {
	return clickWhere("document.querySelector(" + jsString(sel) + ")")
}

// clickWhere clicks the element that the JavaScript expression find
// returns, once it returns one. Finding and clicking happen in one
// evaluation in the page, so a list that the page renders again between
// the two cannot leave the click on a node that is gone.
func clickWhere(find string) chromedp.Action[chromedp.Void] {
	poll := chromedp.Poll[bool]("(() => { const e = " + find + "; if (!e) return false; e.click(); return true; })()")
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := poll(ctx, t)
		return chromedp.Void{}, err
	}
}
