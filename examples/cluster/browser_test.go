package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Bounds of the browser tests, as in examples/browsertest. Each one is a
// deadline for something the test waits on, never a sleep.
const (
	// browserTestTimeout bounds one whole browser test.
	browserTestTimeout = 60 * time.Second
	// pageWaitTimeout bounds one wait for a condition on a page.
	pageWaitTimeout = 15 * time.Second
)

// defaultChromium is Debian's chromium; CHROMIUM overrides it. CI installs
// it (.ci/run); a test that cannot find it fails, it does not skip.
const defaultChromium = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with a fresh profile for the test
// and returns its context, bounded by browserTestTimeout.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	exe := os.Getenv("CHROMIUM")
	if exe == "" {
		exe = defaultChromium
	}
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("chromium not found (install Debian's chromium, or set CHROMIUM): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
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
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// A tab is one page of the browser. An uncaught exception in it fails the
// test.
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
				dir := filepath.Join("..", "..", ".artifacts")
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
// every animation frame, for at most pageWaitTimeout.
func (tb *tab) waitJS(what, expr string) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(pageWaitTimeout)))
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

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return fmt.Sprintf("%q", s)
}
