package harness

import (
	"fmt"
	"strings"
	"time"

	"github.com/realtime-go/realtime/internal/bench/load"
	"github.com/realtime-go/realtime/internal/bench/servers"
)

// settle is how long the memory scenario lets a server sit idle before it
// reads the resident set, so lazily freed memory is not counted.
const settle = time.Second

// hasHeartbeats lists the servers set up with keep-alives: ours (and its
// baselines), the floors, and gorilla's chat example (its writePump pings). The others send
// none as their examples use them.
var hasHeartbeats = map[string]bool{"ours-sse": true, "ours-sse-takeover": true, "ours-ws": true, "hijack-sse": true, "handler-sse": true, "hijack-ws": true, "raw-sse": true, "raw-ws": true, "gorilla": true}

// session is one server process and the load processes driving it.
type session struct {
	c      Config
	srv    *serverProc
	g      *loadGroup
	others []*loadGroup // load processes of other topics
	seq    uint64       // next sequence the server will stamp
}

func open(c Config, lib contender, heartbeat time.Duration) (*session, error) {
	srv, err := startServer(lib, heartbeat)
	if err != nil {
		return nil, err
	}
	return &session{c: c, srv: srv, g: &loadGroup{exe: c.Exe, srv: srv, path: lib.Path, perProc: c.PerLoad}, seq: 1}, nil
}

// group returns a new group of load processes subscribing to topic.
func (s *session) group(topic string) *loadGroup {
	g := &loadGroup{exe: s.c.Exe, srv: s.srv, path: s.srv.lib.TopicPath(topic), perProc: s.c.PerLoad}
	s.others = append(s.others, g)
	return g
}

// close stops the processes and returns the CPU time the server and the
// load processes used.
func (s *session) close() (server, load time.Duration) {
	groups := append([]*loadGroup{s.g}, s.others...)
	for _, g := range groups {
		g.stop()
	}
	s.srv.stop()
	if ps := s.srv.cmd.ProcessState; ps != nil {
		server = ps.UserTime() + ps.SystemTime()
	}
	for _, g := range groups {
		for _, p := range g.procs {
			if ps := p.cmd.ProcessState; ps != nil {
				load += ps.UserTime() + ps.SystemTime()
			}
		}
	}
	return server, load
}

// connect opens n more subscribers and waits until the server counts total.
func (s *session) connect(n, total int) error {
	rep, err := s.g.add(n)
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d connections failed: %s", rep.Failed, rep.FirstErr)
	}
	_, err = s.srv.waitSubs(total, s.c.Wait)
	return err
}

// send publishes n messages interval apart and waits until every live
// connection has them all, or until c.Wait passes.
func (s *session) send(n int, interval time.Duration, latency bool) (servers.PublishResult, load.Report, error) {
	if _, err := s.g.all(load.Command{Op: "expect", From: s.seq, Count: uint64(n), Latency: latency}); err != nil {
		return servers.PublishResult{}, load.Report{}, err
	}
	pub, err := s.srv.publish("", n, interval)
	if err != nil {
		return pub, load.Report{}, err
	}
	if pub.From != s.seq {
		return pub, load.Report{}, fmt.Errorf("server stamped from %d, want %d", pub.From, s.seq)
	}
	s.seq += uint64(n)
	rep, err := s.g.all(load.Command{Op: "wait", Timeout: s.c.Wait + time.Duration(n)*interval})
	return pub, rep, err
}

func runOne(c Config, lib contender, sc string) (r Result) {
	r = Result{Lib: lib.Name, Scenario: sc}
	var hb time.Duration
	if sc == Scale {
		hb = c.Heartbeat
	}
	s, err := open(c, lib, hb)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer func() { r.ServerCPU, r.LoadCPU = s.close() }()
	switch sc {
	case FanOut:
		err = s.fanOut(&r)
	case Latency:
		err = s.latency(&r)
	case Memory:
		err = s.memory(&r)
	case Scale:
		err = s.scale(&r, lib.Lib)
	case Burst:
		err = s.burst(&r)
	case CrossTopic:
		err = s.crossTopic(&r)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// fanOut: c.Subs subscribers, c.Bursts bursts of c.BurstSize messages
// published back to back, each burst awaited everywhere before the next.
// The rate is every delivery over the sum of the times from a burst's first
// publish to its last delivery.
func (s *session) fanOut(r *Result) error {
	if err := s.connect(s.c.Subs, s.c.Subs); err != nil {
		return err
	}
	before, err := s.srv.stats(false)
	if err != nil {
		return err
	}
	var busy time.Duration
	for range s.c.Bursts {
		pub, rep, err := s.send(s.c.BurstSize, 0, false)
		r.Expected += uint64(s.c.Subs * s.c.BurstSize)
		r.Delivered += rep.Got
		r.Bad += rep.Bad
		if err != nil {
			return err
		}
		if rep.TimedOut || rep.Complete < s.c.Subs {
			return fmt.Errorf("burst incomplete: %d of %d subscribers got it all (%d ended: %s)", rep.Complete, s.c.Subs, rep.Ended, rep.EndErr)
		}
		busy += time.Duration(rep.LastRecv - pub.FirstNs)
	}
	if busy > 0 {
		r.Rate = float64(r.Delivered) / busy.Seconds()
	}
	after, err := s.srv.stats(false)
	if err != nil {
		return err
	}
	// Less the few writes of the stats answers themselves.
	r.WritesPerBurst = float64(after.Writes-before.Writes) / float64(s.c.Subs*s.c.Bursts)
	return nil
}

// latency: c.Subs subscribers, c.Rate messages a second for c.Duration,
// paced by the server, each stamped with the time it was due, so a library
// whose Publish holds the publisher back is charged for the wait.
func (s *session) latency(r *Result) error {
	if err := s.connect(s.c.Subs, s.c.Subs); err != nil {
		return err
	}
	n := int(float64(s.c.Rate) * s.c.Duration.Seconds())
	pub, rep, err := s.send(n, time.Second/time.Duration(s.c.Rate), true)
	if pub.LastNs > pub.FirstNs && n > 1 {
		r.PubRate = float64(n-1) / time.Duration(pub.LastNs-pub.FirstNs).Seconds()
	}
	r.Expected = uint64(s.c.Subs * n)
	r.Delivered, r.Bad = rep.Got, rep.Bad
	r.P50, r.P99, r.Max = rep.Latency.Quantile(0.5), rep.Latency.Quantile(0.99), rep.Latency.Quantile(1)
	if err != nil {
		return err
	}
	if rep.TimedOut || rep.Complete < s.c.Subs {
		return fmt.Errorf("incomplete: %d of %d subscribers got it all (%d ended: %s)", rep.Complete, s.c.Subs, rep.Ended, rep.EndErr)
	}
	return nil
}

// memory: the server's resident set and Go heap with c.MemConns idle
// subscribers, less what it held before any connected; then one message to
// check they were all live.
func (s *session) memory(r *Result) error {
	base, err := s.srv.stats(true)
	if err != nil {
		return err
	}
	baseRSS, err := servers.ReadRSS(s.srv.pid())
	if err != nil {
		return err
	}
	if err := s.connect(s.c.MemConns, s.c.MemConns); err != nil {
		return err
	}
	time.Sleep(settle)
	rss, err := servers.ReadRSS(s.srv.pid())
	if err != nil {
		return err
	}
	st, err := s.srv.stats(true)
	if err != nil {
		return err
	}
	n := float64(s.c.MemConns)
	r.Conns = s.c.MemConns
	r.RSSPerConn = (float64(rss) - float64(baseRSS)) / n
	r.HeapPerConn = (float64(st.HeapInuse+st.StackInuse) - float64(base.HeapInuse+base.StackInuse)) / n
	r.StackPerConn = (float64(st.StackInuse) - float64(base.StackInuse)) / n
	r.GoPerConn = float64(st.Goroutines-base.Goroutines) / n
	_, rep, err := s.send(1, 0, false)
	r.Expected, r.Delivered, r.Bad = uint64(s.c.MemConns), rep.Got, rep.Bad
	if err != nil {
		return err
	}
	if rep.Complete < s.c.MemConns {
		return fmt.Errorf("after measuring, %d of %d idle subscribers got a message", rep.Complete, s.c.MemConns)
	}
	return nil
}

// scale: add c.ScaleStep subscribers at a time up to c.ScaleMax, checking
// after each step that every one gets a message; then, at the most held,
// that every one gets heartbeats for two intervals and a last message.
func (s *session) scale(r *Result, lib servers.Lib) error {
	base, _, _ := strings.Cut(lib.Name, "@")
	r.HasBeats = hasHeartbeats[base]
	for total := s.c.ScaleStep; total <= s.c.ScaleMax; total += s.c.ScaleStep {
		if err := s.connect(s.c.ScaleStep, total); err != nil {
			r.ScaleNote = fmt.Sprintf("stopped at %d: %v", total, err)
			break
		}
		_, rep, err := s.send(1, 0, false)
		if err != nil {
			return err
		}
		if rep.Complete < total || rep.Bad > 0 {
			r.ScaleNote = fmt.Sprintf("stopped at %d: %d got the message (%d ended: %s)", total, rep.Complete, rep.Ended, rep.EndErr)
			break
		}
		r.Held = total
	}
	if r.Held == 0 {
		return nil
	}
	if _, err := s.g.all(load.Command{Op: "expect", From: s.seq, Count: 1}); err != nil {
		return err
	}
	// Every connection should have seen a heartbeat since it opened; the
	// slack is for a busy machine.
	deadline := time.Now().Add(3*s.c.Heartbeat + 5*time.Second)
	for {
		beats, err := s.g.all(load.Command{Op: "report"})
		if err != nil {
			return err
		}
		r.Beats = beats.Conns > 0 && beats.MinBeats > 0
		if r.Beats || !r.HasBeats || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	_, rep, err := s.send(1, 0, false)
	if err != nil {
		return err
	}
	r.Expected, r.Delivered, r.Bad = uint64(rep.Conns+rep.Ended), rep.Got, rep.Bad
	if rep.Complete < r.Held {
		r.ScaleNote += fmt.Sprintf("; after the heartbeat wait %d of %d got the last message", rep.Complete, r.Held)
		r.Held = rep.Complete
	}
	return nil
}

// burst: c.BurstSubs subscribers that read as fast as they can, and
// bursts of c.BurstFrom messages published in a tight loop, doubled each
// time up to c.BurstTo, each awaited everywhere before the next. BurstMax
// is the largest burst after which every subscriber had every message and
// none had been disconnected; the first that fails ends the scenario, and
// its messages are not counted as lost (they are what is measured).
func (s *session) burst(r *Result) error {
	subs := s.c.BurstSubs
	if err := s.connect(subs, subs); err != nil {
		return err
	}
	for n := s.c.BurstFrom; n <= s.c.BurstTo; n *= 2 {
		_, rep, err := s.send(n, 0, false)
		if err != nil {
			return err
		}
		if rep.TimedOut || rep.Complete < subs || rep.Ended > 0 || rep.Bad > 0 {
			r.BurstNote = fmt.Sprintf("at %d: %d of %d subscribers got all of it (%d of %d messages in order, %d out of order), %d disconnected",
				n, rep.Complete, subs, rep.Got, uint64(n*subs), rep.Bad, rep.Ended)
			if rep.EndErr != "" {
				r.BurstNote += ": " + rep.EndErr
			}
			if rep.Ended == 0 {
				r.BurstNote += " (lost with no disconnect)"
			}
			return nil
		}
		r.Expected += uint64(n * subs)
		r.Delivered += rep.Got
		r.BurstMax = n
	}
	r.BurstNote = fmt.Sprintf("every burst up to the limit of %d", s.c.BurstTo)
	return nil
}

// soloTopic is the crosstopic scenario's one-subscriber topic.
const soloTopic = "solo"

// crossTopic: c.CrossSubs subscribers of one topic getting bursts of
// c.BurstSize messages back to back (each awaited everywhere before the
// next), while one subscriber of another topic gets c.Rate messages a
// second for c.Duration, paced by the server and stamped when due. P50,
// P99 and Max are that subscriber's latencies; Rate is the fanned-out
// topic's deliveries per second meanwhile.
func (s *session) crossTopic(r *Result) error {
	if err := s.connect(s.c.CrossSubs, s.c.CrossSubs); err != nil {
		return err
	}
	solo := s.group(soloTopic)
	if rep, err := solo.add(1); err != nil {
		return err
	} else if rep.Failed > 0 {
		return fmt.Errorf("the %s subscriber failed: %s", soloTopic, rep.FirstErr)
	}
	if _, err := s.srv.waitSubs(s.c.CrossSubs+1, s.c.Wait); err != nil {
		return err
	}
	n := int(float64(s.c.Rate) * s.c.Duration.Seconds())
	if _, err := solo.all(load.Command{Op: "expect", From: 1, Count: uint64(n), Latency: true}); err != nil {
		return err
	}
	type answer struct {
		pub servers.PublishResult
		err error
	}
	paced := make(chan answer, 1)
	go func() {
		pub, err := s.srv.publish(soloTopic, n, time.Second/time.Duration(s.c.Rate))
		paced <- answer{pub, err}
	}()
	var busy time.Duration
	var fanErr error
	var a answer
loop:
	for {
		select {
		case a = <-paced:
			break loop
		default:
		}
		if fanErr != nil {
			a = <-paced
			break
		}
		pub, rep, err := s.send(s.c.BurstSize, 0, false)
		r.Delivered += rep.Got
		switch {
		case err != nil:
			fanErr = err
		case rep.TimedOut || rep.Complete < s.c.CrossSubs:
			fanErr = fmt.Errorf("fan-out burst incomplete: %d of %d subscribers got it all (%d ended: %s)", rep.Complete, s.c.CrossSubs, rep.Ended, rep.EndErr)
		default:
			busy += time.Duration(rep.LastRecv - pub.FirstNs)
		}
	}
	if busy > 0 {
		r.Rate = float64(r.Delivered) / busy.Seconds()
	}
	r.Delivered = 0 // Expected and Delivered count the solo topic
	if a.err != nil {
		return a.err
	}
	if a.pub.From != 1 {
		return fmt.Errorf("server stamped %s from %d, want 1", soloTopic, a.pub.From)
	}
	rep, err := solo.all(load.Command{Op: "wait", Timeout: s.c.Wait})
	r.Expected, r.Delivered, r.Bad = uint64(n), rep.Got, rep.Bad
	r.P50, r.P99, r.Max = rep.Latency.Quantile(0.5), rep.Latency.Quantile(0.99), rep.Latency.Quantile(1)
	if err != nil {
		return err
	}
	if rep.TimedOut || rep.Complete < 1 {
		return fmt.Errorf("the %s subscriber got %d of %d messages (ended: %s)", soloTopic, rep.Got, n, rep.EndErr)
	}
	return fanErr
}
