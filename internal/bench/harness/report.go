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

	Burst     int    // burst: the largest survived, the least over the rounds
	BurstNote string // burst: the note of the round that gave Burst

	CrossP50, CrossP99, CrossMax time.Duration // crosstopic: the one-subscriber topic's latency
	CrossRate                    float64       // crosstopic: the fanned-out topic's deliveries/s
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

// order returns the libraries results name, in the order of servers.Libs,
// each baseline ("NAME@REV") right after its library.
func order(results []Result) []servers.Lib {
	seen := map[string]bool{}
	for _, r := range results {
		seen[r.Lib] = true
	}
	var out []servers.Lib
	done := map[string]bool{}
	for _, l := range servers.Libs() {
		if seen[l.Name] {
			out = append(out, l)
		}
		for _, r := range results {
			if base, _, ok := strings.Cut(r.Lib, "@"); ok && base == l.Name && !done[r.Lib] {
				done[r.Lib] = true
				if bl, err := lookup(r.Lib); err == nil {
					out = append(out, bl)
				}
			}
		}
	}
	return out
}

// Summarize takes the medians of each library's rounds, in the order of
// servers.Libs with each baseline after its library.
func Summarize(results []Result) []Summary {
	var out []Summary
	for _, lib := range order(results) {
		var rates, wpb, rss, heap, crossRate []float64
		var p50, p99, mx, cp50, cp99, cmx []time.Duration
		s := Summary{Lib: lib, Beats: "", Runs: map[string]int{}, Burst: -1}
		for _, r := range results {
			if r.Lib != lib.Name {
				continue
			}
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
			case Burst:
				if r.Err == "" && (s.Burst < 0 || r.BurstMax < s.Burst) {
					s.Burst, s.BurstNote = r.BurstMax, r.BurstNote
				}
			case CrossTopic:
				if r.Err == "" {
					cp50, cp99, cmx = append(cp50, r.P50), append(cp99, r.P99), append(cmx, r.Max)
					crossRate = append(crossRate, r.Rate)
				}
			}
		}
		s.Rate, s.Wpb, s.RSS, s.Heap = median(rates), median(wpb), median(rss), median(heap)
		s.P50, s.P99, s.Max = median(p50), median(p99), median(mx)
		s.CrossP50, s.CrossP99, s.CrossMax, s.CrossRate = median(cp50), median(cp99), median(cmx), median(crossRate)
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

// rate formats deliveries per second, "–" for none measured.
func rate(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
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
				if sums[i].Lib.Name == "ours-"+kind {
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
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				s.Lib.Title, rate(s.Rate), ratio(s.Rate, ours.Rate), wpb, lost,
				ms(s.P50), ms(s.P99), ms(s.Max), ratio(float64(s.P99), float64(ours.P99)),
				kib(s.RSS), kib(s.Heap), held, beats)
		}
	}
	fmt.Fprintf(w, "\nColumns: fan-out is %d subscribers and %d bursts of %d messages; writes/burst is the server's write system calls per subscriber per burst (1 means a whole burst in one write); "+
		"lost counts messages that did not arrive in order, over all rounds and scenarios; latency is publish to receive with %d subscribers at %d messages/s for %v; "+
		"RSS is the server's VmRSS with %d idle connections less before any, per connection; heap is Go heap in use plus goroutine stacks after a GC, per connection; "+
		"scale is the most connections held (in steps of %d, up to %d) with every one getting a message after each step, and heartbeats (every %v where the library has them) reaching every connection.\n",
		c.Subs, c.Bursts, c.BurstSize, c.Subs, c.Rate, c.Duration, c.MemConns, c.ScaleStep, c.ScaleMax, c.Heartbeat)
	writeDelivery(w, sums, c)
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

// family returns "ours", "hijack", "handler" or "raw" for ours (and its
// baselines) and the floors, "" for a peer.
func family(name string) string {
	for _, f := range []string{"ours", "hijack", "handler", "raw"} {
		if strings.HasPrefix(name, f+"-") {
			return f
		}
	}
	return ""
}

// floorOf returns the name of the floor a library is measured against:
// the handler floor for the SSE streams served in their handler (ours by
// default, and the handler floor itself), the hijacked floor of its kind
// for the rest.
func floorOf(l servers.Lib) string {
	name, _, _ := strings.Cut(l.Name, "@")
	if name == "ours-sse" || name == "handler-sse" {
		return "handler-sse"
	}
	return "hijack-" + l.Kind
}

// writeDelivery writes, for each kind, ours, its baselines and the floors
// side by side on what delivery costs: idle memory, fan-out against the
// floor of the same path (floorOf), p99 latency, the cross-topic p99 and
// the largest burst.
func writeDelivery(w io.Writer, sums []Summary, c Config) {
	by := map[string]Summary{}
	for _, s := range sums {
		by[s.Lib.Name] = s
	}
	for _, kind := range []string{"sse", "ws"} {
		var rows []Summary
		for _, s := range sums {
			if s.Lib.Kind != kind || family(s.Lib.Name) == "" {
				continue
			}
			rows = append(rows, s)
		}
		if len(rows) == 0 {
			continue
		}
		title := map[string]string{"sse": "Server-Sent Events", "ws": "WebSocket"}[kind]
		fmt.Fprintf(w, "\n### %s: ours, its baselines and the floors\n\n", title)
		fmt.Fprintln(w, "| library | RSS KiB/conn | heap KiB/conn | fan-out deliveries/s | vs floor | floor | writes/burst | p99 ms | cross-topic p99 ms | cross-topic max ms | largest burst | lost |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|")
		for _, s := range rows {
			floor := floorOf(s.Lib)
			wpb := "–"
			if s.Wpb > 0 {
				wpb = fmt.Sprintf("%.1f", s.Wpb)
			}
			burst := "–"
			switch {
			case s.Runs[Burst] == 0:
			case s.Burst < 0:
				burst = "error"
			case s.Burst == 0:
				burst = fmt.Sprintf("< %d", c.BurstFrom)
			case s.Burst >= c.BurstTo:
				burst = fmt.Sprintf("≥ %d", s.Burst)
			default:
				burst = fmt.Sprint(s.Burst)
			}
			lost := fmt.Sprint(s.Lost + s.Bad)
			if len(s.Errs) > 0 {
				lost += " (errors)"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				s.Lib.Title, kib(s.RSS), kib(s.Heap), rate(s.Rate), ratio(s.Rate, by[floor].Rate), floor, wpb,
				ms(s.P99), ms(s.CrossP99), ms(s.CrossMax), burst, lost)
		}
	}
	fmt.Fprintf(w, "\nColumns as above; vs floor is fan-out deliveries/s over the floor's of the same path (the handler floor for streams served in their handler, the hijacked floor for the rest). Cross-topic is the publish-to-receive latency of one subscriber's topic, %d messages/s for %v, "+
		"while %d subscribers of another topic get bursts of %d messages back to back. Largest burst is the most messages published in a tight loop (from %d, doubling, up to %d) "+
		"that each of %d fast subscribers got in full, none disconnected.\n",
		c.Rate, c.Duration, c.CrossSubs, c.BurstSize, c.BurstFrom, c.BurstTo, c.BurstSubs)
	for _, s := range sums {
		if s.Runs[Burst] > 0 && s.BurstNote != "" {
			fmt.Fprintf(w, "\n- %s burst: %s", s.Lib.Name, s.BurstNote)
		}
	}
	fmt.Fprintln(w)
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
			if s.Lib.Kind != o.Lib.Kind || family(s.Lib.Name) != "" {
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
		for _, name := range []string{k.ours, k.ours + "-takeover"} {
			o := by[name]
			f := by[floorOf(o.Lib)]
			if o.Rate == 0 || f.Rate == 0 {
				continue
			}
			want := 0.7
			if f.Lib.Name == "handler-sse" {
				want = 0.8
			}
			fmt.Fprintf(w, "- %s fan-out: %.2fx the %s floor (target %.1fx): %s\n", name, o.Rate/f.Rate, f.Lib.Name, want, mark(o.Rate >= want*f.Rate))
			if f.RSS > 0 && o.RSS > 0 {
				fmt.Fprintf(w, "- %s idle memory: %.1f KiB RSS per connection, the %s floor %.1f\n", name, o.RSS/1024, f.Lib.Name, f.RSS/1024)
			}
		}
		for _, old := range sums {
			if !strings.HasPrefix(old.Lib.Name, k.ours+"@") {
				continue
			}
			if o.RSS > 0 && old.RSS > 0 {
				fmt.Fprintf(w, "- %s idle memory: %.2f against %.2f KiB RSS per connection at %s (target no higher): %s\n", k.ours, o.RSS/1024, old.RSS/1024, old.Lib.Name, mark(o.RSS <= old.RSS))
			}
			if o.P99 > 0 && old.P99 > 0 {
				fmt.Fprintf(w, "- %s p99: %s against %s ms at %s (target no worse): %s\n", k.ours, ms(o.P99), ms(old.P99), old.Lib.Name, mark(o.P99 <= old.P99))
			}
			if o.Rate > 0 && old.Rate > 0 {
				fmt.Fprintf(w, "- %s fan-out: %.2fx %s\n", k.ours, o.Rate/old.Rate, old.Lib.Name)
			}
			if o.CrossP99 > 0 && old.CrossP99 > 0 {
				fmt.Fprintf(w, "- %s cross-topic p99: %s against %s ms at %s\n", k.ours, ms(o.CrossP99), ms(old.CrossP99), old.Lib.Name)
			}
			if o.Runs[Burst] > 0 && old.Runs[Burst] > 0 {
				fmt.Fprintf(w, "- %s largest burst: %d against %d at %s\n", k.ours, o.Burst, old.Burst, old.Lib.Name)
			}
		}
	}
}
