package clienttest

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// defaultChromium is where Debian's chromium package puts the browser;
// the CHROMIUM environment variable overrides it.
const defaultChromium = "/usr/bin/chromium"

// pollEvery is how often the test takes what a page reported.
const pollEvery = 20 * time.Millisecond

// chromiumClient is Debian's Chromium, headless, with its own EventSource
// and WebSocket on a page of the server (testdata/browser/page.html), so
// that the Hub's origin check sees a same-origin page. A new EventSource
// cannot set Last-Event-ID: a page that opens one resumes with the
// lastEventId query parameter; the SSE resume checked is the browser's
// own reconnect, with the header.
// With h2 the server speaks HTTP/2 over TLS with a test certificate,
// which the browser is told to accept.
func chromiumClient(h2 bool) client {
	var bctx context.Context
	name := "chromium (Debian 12)"
	if h2 {
		name = "chromium h2 (TLS)"
	}
	return client{
		name:          name,
		h2:            h2,
		sseReconnects: true,
		prepare: func(t *testing.T) string {
			bctx = newBrowser(t)
			return ""
		},
		sse: func(t *testing.T, _, u, lastID string) *proc {
			if lastID != "" {
				u += "&lastEventId=" + url.QueryEscape(lastID)
			}
			return browserProc(t, bctx, u, "startSSE")
		},
		ws: func(t *testing.T, _, u string) *proc {
			return browserProc(t, bctx, u, "startWS")
		},
	}
}

// newBrowser starts a headless Chromium with a fresh profile for the test
// and returns its context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := os.Getenv("CHROMIUM")
	if exe == "" {
		exe = defaultChromium
	}
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("chromium not found: apt-get install -y chromium (.ci/run does), or set CHROMIUM: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*procBound)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
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
		// The servers of the test are on 127.0.0.1 with httptest's
		// certificate.
		chromedp.Flag("ignore-certificate-errors", true),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		chromedp.Cancel(bctx)
	})
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// browserProc opens a tab on the server's page and calls start(u) there;
// what the page reports comes in the proc's lines, commands go to the
// page's command(), and stop closes the tab.
func browserProc(t *testing.T, bctx context.Context, u, start string) *proc {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	page := "http://" + pu.Host + "/page"
	if pu.Scheme == "https" || pu.Scheme == "wss" {
		page = "https://" + pu.Host + "/page"
	}
	ctx, cancel := chromedp.NewContext(bctx)
	p := &proc{t: t, lines: make(chan line, 64), cancel: cancel, exited: make(chan struct{})}
	quoted, _ := json.Marshal(u)
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.Evaluate[chromedp.Void](start+"("+string(quoted)+")")); err != nil {
		cancel()
		t.Fatalf("open %s and %s(%s): %v", page, start, u, err)
	}
	p.commandFn = func(b []byte) error {
		return chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void]("command("+string(b)+")"))
	}
	stopped := make(chan struct{})
	p.stopFn = func() {
		select {
		case <-stopped:
		default:
			close(stopped)
		}
		<-p.exited
		cancel()
		chromedp.Cancel(ctx)
	}
	go func() {
		defer close(p.exited)
		defer close(p.lines)
		for {
			select {
			case <-stopped:
				return
			case <-time.After(pollEvery):
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string]("takeOut()"))
			if err != nil {
				p.stderr.Write([]byte("takeOut: " + err.Error() + "\n"))
				return
			}
			var ls []line
			if err := json.Unmarshal([]byte(got), &ls); err != nil {
				p.stderr.Write([]byte("takeOut: " + err.Error() + ": " + strings.TrimSpace(got) + "\n"))
				return
			}
			for _, l := range ls {
				select {
				case p.lines <- l:
				case <-stopped:
					return
				}
			}
		}
	}()
	t.Cleanup(p.stopFn)
	return p
}
