package harness

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/realtime-go/realtime/internal/bench/servers"
)

// Summary is one library's medians over the rounds.
type Summary struct {
	Lib   servers.Lib
	Rate  float64
	Wpb   float64 // writes per subscriber per burst
	Lost  uint64  // every round added up, all scenarios
	Bad   uint64
	Errs  []string
	P50   time.Duration
	P99   time.Duration
	Max   time.Duration
	RSS   float64 // bytes per idle connection
	Heap  float64
	Held  int
	Beats string // "yes", "no" or "n/a"
	Runs  map[string]int
}

func median[T int | float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Summarize takes the medians of each library's rounds, in the order of
// servers.Libs.
func Summarize(results []Result) []Summary {
	var out []Summary
	for _, lib := range servers.Libs() {
		var rates, wpb, rss, heap []float64
		var p50, p99, mx []time.Duration
		s := Summary{Lib: lib, Beats: "", Runs: map[string]int{}}
		found := false
		for _, r := range results {
			if r.Lib != lib.Name {
				continue
			}
			found = true
			s.Runs[r.Scenario]++
			s.Lost += r.Lost()
			s.Bad += r.Bad
			if r.Err != "" {
				s.Errs = append(s.Errs, fmt.Sprintf("%s round %d: %s", r.Scenario, r.Round, r.Err))
			}
			switch r.Scenario {
			case FanOut:
				if r.Err == "" {
					rates, wpb = append(rates, r.Rate), append(wpb, r.WritesPerBurst)
				}
			case Latency:
				if r.Err == "" {
					p50, p99, mx = append(p50, r.P50), append(p99, r.P99), append(mx, r.Max)
				}
			case Memory:
				if r.Conns > 0 {
					rss, heap = append(rss, r.RSSPerConn), append(heap, r.HeapPerConn)
				}
			case Scale:
				s.Held = r.Held
				switch {
				case !r.HasBeats:
					s.Beats = "n/a"
				case r.Beats:
					s.Beats = "yes"
				default:
					s.Beats = "no"
				}
			}
		}
		if !found {
			continue
		}
		s.Rate, s.Wpb, s.RSS, s.Heap = median(rates), median(wpb), median(rss), median(heap)
		s.P50, s.P99, s.Max = median(p50), median(p99), median(mx)
		out = append(out, s)
	}
	return out
}

func ratio(v, ours float64) string {
	if v == 0 || ours == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", v/ours)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(d)/1e6)
}

func kib(b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", b/1024)
}

// WriteTables writes one markdown table per kind (SSE, WebSocket): medians
// and, beside each, the ratio to ours of the same kind.
func WriteTables(w io.Writer, sums []Summary, c Config) {
	c.fill()
	for _, kind := range []string{"sse", "ws"} {
		var rows []Summary
		var ours *Summary
		for i := range sums {
			if sums[i].Lib.Kind == kind {
				rows = append(rows, sums[i])
				if strings.HasPrefix(sums[i].Lib.Name, "ours") {
					ours = &sums[i]
				}
			}
		}
		if len(rows) == 0 {
			continue
		}
		if ours == nil {
			ours = &Summary{}
		}
		title := map[string]string{"sse": "Server-Sent Events", "ws": "WebSocket"}[kind]
		fmt.Fprintf(w, "\n### %s\n\n", title)
		fmt.Fprintln(w, "| library | fan-out deliveries/s | vs ours | writes/burst | lost | p50 ms | p99 ms | max ms | p99 vs ours | RSS KiB/conn | heap KiB/conn | scale: conns held | heartbeats |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|")
		for _, s := range rows {
			held := "–"
			if s.Runs[Scale] > 0 {
				held = fmt.Sprint(s.Held)
			}
			beats := s.Beats
			if beats == "" {
				beats = "–"
			}
			lost := fmt.Sprint(s.Lost + s.Bad)
			if len(s.Errs) > 0 {
				lost += " (errors)"
			}
			wpb := "–"
			if s.Wpb > 0 {
				wpb = fmt.Sprintf("%.1f", s.Wpb)
			}
			fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				s.Lib.Title, s.Rate, ratio(s.Rate, ours.Rate), wpb, lost,
				ms(s.P50), ms(s.P99), ms(s.Max), ratio(float64(s.P99), float64(ours.P99)),
				kib(s.RSS), kib(s.Heap), held, beats)
		}
	}
	fmt.Fprintf(w, "\nColumns: fan-out is %d subscribers and %d bursts of %d messages; writes/burst is the server's write system calls per subscriber per burst (1 means a whole burst in one write); "+
		"lost counts messages that did not arrive in order, over all rounds and scenarios; latency is publish to receive with %d subscribers at %d messages/s for %v; "+
		"RSS is the server's VmRSS with %d idle connections less before any, per connection; heap is Go heap in use plus goroutine stacks after a GC, per connection; "+
		"scale is the most connections held (in steps of %d, up to %d) with every one getting a message after each step, and heartbeats (every %v where the library has them) reaching every connection.\n",
		c.Subs, c.Bursts, c.BurstSize, c.Subs, c.Rate, c.Duration, c.MemConns, c.ScaleStep, c.ScaleMax, c.Heartbeat)
	var errs []string
	for _, s := range sums {
		for _, e := range s.Errs {
			errs = append(errs, s.Lib.Name+" "+e)
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nErrors:\n\n")
		for _, e := range errs {
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
}

// WriteTargets checks ours against the targets and writes one line
// per target.
func WriteTargets(w io.Writer, sums []Summary, c Config) {
	c.fill()
	by := map[string]Summary{}
	for _, s := range sums {
		by[s.Lib.Name] = s
	}
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "\n### Targets\n\n")
	if c.Subs < Full.Subs || c.MemConns < Full.MemConns || c.ScaleMax < Full.ScaleMax {
		fmt.Fprintf(w, "(Smaller counts than the full run: these lines are indicative only; per-connection memory in particular needs thousands of connections to average out the runtime's own.)\n\n")
	}
	for _, k := range []struct{ ours, raw string }{{"ours-sse", "raw-sse"}, {"ours-ws", "raw-ws"}} {
		o, ok := by[k.ours]
		if !ok {
			continue
		}
		raw := by[k.raw]
		var bestPeer, bestP99 Summary
		for _, s := range sums {
			if s.Lib.Kind != o.Lib.Kind || strings.HasPrefix(s.Lib.Name, "ours") || strings.HasPrefix(s.Lib.Name, "raw") {
				continue
			}
			if s.Rate > bestPeer.Rate {
				bestPeer = s
			}
			if s.P99 > 0 && (bestP99.P99 == 0 || s.P99 < bestP99.P99) {
				bestP99 = s
			}
		}
		if o.Rate > 0 && raw.Rate > 0 {
			fmt.Fprintf(w, "- %s fan-out: %.2fx the raw floor (target 0.8x): %s\n", k.ours, o.Rate/raw.Rate, mark(o.Rate >= 0.8*raw.Rate))
		}
		if o.Rate > 0 && bestPeer.Rate > 0 {
			fmt.Fprintf(w, "- %s fan-out: %.2fx the best peer, %s (target 4x): %s\n", k.ours, o.Rate/bestPeer.Rate, bestPeer.Lib.Name, mark(o.Rate >= 4*bestPeer.Rate))
		}
		if g, ok := by["gorilla"]; ok && k.ours == "ours-ws" && o.Rate > 0 && g.Rate > 0 {
			fmt.Fprintf(w, "- %s fan-out: %.2fx gorilla (target 3x): %s\n", k.ours, o.Rate/g.Rate, mark(o.Rate >= 3*g.Rate))
		}
		if o.P99 > 0 && raw.P99 > 0 {
			fmt.Fprintf(w, "- %s p99: %.2fx the raw floor (target within 1.2x): %s\n", k.ours, float64(o.P99)/float64(raw.P99), mark(float64(o.P99) <= 1.2*float64(raw.P99)))
		}
		if o.P99 > 0 && bestP99.P99 > 0 {
			fmt.Fprintf(w, "- %s p99 below every peer (best peer %s at %s ms): %s\n", k.ours, bestP99.Lib.Name, ms(bestP99.P99), mark(o.P99 < bestP99.P99))
		}
		if o.RSS > 0 {
			fmt.Fprintf(w, "- %s idle memory: %.2f KiB RSS per connection (target below 8 KiB): %s\n", k.ours, o.RSS/1024, mark(o.RSS < 8*1024))
		}
		if o.Runs[Scale] > 0 && c.ScaleMax >= 19000 {
			fmt.Fprintf(w, "- %s scale: %d connections held, heartbeats %s (target 19,000 with no errors): %s\n", k.ours, o.Held, o.Beats, mark(o.Held >= 19000 && o.Beats == "yes"))
		}
	}
}
