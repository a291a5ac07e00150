package browsertest

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// tickerEvery is how often the ticker moves its prices in these tests: fast,
// so that many events are published while a page is away.
const tickerEvery = "50ms"

// savedLast matches the ticker's log line after it saved its state.
var savedLast = regexp.MustCompile(`state saved.* last=(\S+)`)

// TestTicker follows the ticker page through live updates, a server restart
// without history (a gap, shown as such), and a change of the symbols
// picked.
func TestTicker(t *testing.T) {
	leakcheck.Check(t)
	srv, page := openTicker(t)

	// Live: the indicator says so and prices move.
	n := eval[int](page, `ticker.count`)
	page.waitJS("more updates", fmt.Sprintf(`ticker.count >= %d`, n+12))
	page.waitJS("every card to show a price", `document.querySelectorAll(".card").length === 6 &&
		[...document.querySelectorAll(".card .price")].every(e => e.textContent !== "—")`)
	page.waitJS("charts drawn", `[...document.querySelectorAll(".card canvas")].every(c => c.width > 0)`)
	if err := checkRun(eval[[]string](page, `ticker.ids`)); err != nil {
		t.Fatalf("before restart: %v", err)
	}
	page.waitJS("charts with some history", `Object.values(ticker.series).every(s => s.points.length >= 60)`)
	page.screenshotSized("ticker", 1100, 600)
	page.screenshotDark("ticker-dark", 1100, 600)

	// Restart without history: the page reports a gap and goes on with the
	// new server's events.
	srv.restart("-state", "")
	page.waitJS("the gap banner", `ticker.gaps.length === 1 && !document.getElementById("gap").hidden &&
		document.getElementById("status").dataset.state === "gap"`)
	if reason := eval[string](page, `ticker.gaps[0].reason`); reason != "unknown epoch" {
		t.Errorf("gap reason = %q, want %q", reason, "unknown epoch")
	}
	n = eval[int](page, `ticker.count`)
	page.waitJS("updates after the gap", fmt.Sprintf(`ticker.count >= %d`, n+12))
	ids := eval[[]string](page, `ticker.ids`)
	epoch0, _, _ := parseID(ids[0])
	i := slices.IndexFunc(ids, func(id string) bool { e, _, _ := parseID(id); return e != epoch0 })
	if i < 0 {
		t.Fatal("no event of the new server's epoch")
	}
	if err := checkRun(ids[i:]); err != nil {
		t.Fatalf("after the gap: %v", err)
	}
	page.screenshotSized("ticker-gap", 1100, 680)
	page.do("dismiss the gap", chromedpClick("#gap-dismiss"))
	page.waitJS("live again", `document.getElementById("gap").hidden && ticker.state === "live"`)

	// Picking symbols: ACME off, the stream reconnects without it.
	page.do("unpick ACME", chromedpClick(`.chip[data-symbol="ACME"]`))
	page.waitJS("the stream without ACME", `!ticker.url.includes("topic=ACME") && ticker.url.includes("topic=GLOBEX") &&
		!document.querySelector('.card[data-symbol="ACME"]') && location.search.includes("topic=GLOBEX")`)
	n = eval[int](page, `ticker.count`)
	page.waitJS("updates for the other symbols", fmt.Sprintf(`ticker.count >= %d`, n+10))
	page.screenshot("ticker-picked")
	// Picking it again brings its card and recent chart back.
	page.do("pick ACME", chromedpClick(`.chip[data-symbol="ACME"]`))
	page.waitJS("the stream with ACME", `ticker.url.includes("topic=ACME") &&
		document.querySelector('.card[data-symbol="ACME"] .price').textContent !== "—"`)
}

// openTicker builds the ticker, starts it with a state file and opens its
// page, and returns once the page is live.
func openTicker(t *testing.T) (*server, *tab) {
	t.Helper()
	bin := buildExample(t, "ticker")
	state := filepath.Join(t.TempDir(), "ticker.state")
	srv := startServer(t, bin, "-state", state, "-every", tickerEvery)
	page := newTab(t, newBrowser(t), "ticker", srv.url("/"))
	page.waitJS("the page to go live", `window.ticker && ticker.state === "live" && ticker.count > 0`)
	return srv, page
}
