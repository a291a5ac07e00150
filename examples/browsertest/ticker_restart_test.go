package browsertest

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// replayed matches the count of replayed events in the ticker's last log line.
var replayed = regexp.MustCompile(`stopped.* replayed=(\d+)`)

// TestTickerRestart restarts the ticker on the same port with the history
// it saved: the page comes back by itself and shows every event exactly
// once, in order, also those published while it was away.
func TestTickerRestart(t *testing.T) {
	leakcheck.Check(t)
	srv, page := openTicker(t)

	// Restart with the saved history on the same port: the page comes back
	// by itself and shows every event exactly once, in order.
	srv.stop()
	page.waitJS("the indicator to say reconnecting", `ticker.state === "reconnecting" &&
		document.getElementById("status").textContent.includes("Reconnecting")`)
	page.screenshotSized("ticker-reconnecting", 1100, 600)
	srv.start()
	last := srv.lastLog(savedLast)
	if last == "" {
		t.Fatal("the ticker did not log the last id it saved")
	}
	page.waitJS("the page to hold the last event before the restart", fmt.Sprintf(`ticker.ids.includes(%s)`, jsString(last)))
	_, lastSeq, err := parseID(last)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the page holds events well past the restart, live ones.
	page.waitJS("events after the restart", fmt.Sprintf(`ticker.state === "live" && ticker.ids.length > 0 &&
		Number(ticker.ids[ticker.ids.length-1].split("-").pop()) >= %d`, lastSeq+60))
	ids := eval[[]string](page, `ticker.ids`)
	if err := checkRun(ids); err != nil {
		t.Fatalf("across a restart with history: %v", err)
	}
	if i := slices.Index(ids, last); i < 0 || i == len(ids)-1 {
		t.Fatalf("the restart boundary %s is not inside what the page shows", last)
	}
	if g := eval[int](page, `ticker.gaps.length`); g != 0 {
		t.Fatalf("a restart with history showed %d gap(s)", g)
	}
	if d := eval[int](page, `ticker.duplicates`); d != 0 {
		t.Fatalf("the page was sent %d event(s) twice", d)
	}
	srv.stop()
	t.Logf("the page holds %d events in order; the second server replayed %s of them", len(ids), srv.lastLog(replayed))
}
