// Package load is the benchmark's load side: an Agent holds many
// subscriber connections (SSE or WebSocket, read by a minimal raw client
// that is the same for every library), checks that every message arrives in
// order and records publish-to-receive latency. A load process runs one
// Agent driven by JSON commands on stdin.
package load

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DialConcurrency bounds the handshakes one agent has in flight.
const DialConcurrency = 64

// round is one measured phase: messages from..from+count-1 are expected on
// every live connection.
type round struct {
	from, count uint64
	latency     bool
	hist        Histogram
	remaining   atomic.Int64
	done        chan struct{}
}

// Agent holds subscriber connections to one server.
type Agent struct {
	addr, path, kind string

	round atomic.Pointer[round]

	mu       sync.Mutex
	conns    []*conn
	failed   int
	firstErr string
	endErr   string
	wg       sync.WaitGroup
}

// NewAgent returns an agent that connects to the server at addr (host:port)
// and subscribes with a GET of path; kind is KindSSE or KindWS.
func NewAgent(addr, path, kind string) *Agent {
	return &Agent{addr: addr, path: path, kind: kind}
}

// Command is one instruction to a load process.
type Command struct {
	// Op is "add" (open N connections), "expect" (start a round expecting
	// Count messages from sequence From on every live connection, with
	// latency recorded when Latency is set), "wait" (wait up to Timeout
	// for every connection to complete the round, then report), "report",
	// or "close" (close every connection).
	Op      string        `json:"op"`
	N       int           `json:"n,omitempty"`
	From    uint64        `json:"from,omitempty"`
	Count   uint64        `json:"count,omitempty"`
	Latency bool          `json:"latency,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
}

// Report is a load process's answer to every command.
type Report struct {
	Conns    int    `json:"conns"`  // connections opened and not ended
	Failed   int    `json:"failed"` // dials or handshakes that failed, ever
	Ended    int    `json:"ended"`  // connections that ended after the handshake
	FirstErr string `json:"firstErr,omitempty"`
	EndErr   string `json:"endErr,omitempty"`

	Complete int    `json:"complete"` // live connections that got the whole round
	Got      uint64 `json:"got"`      // messages of the round received in order
	Bad      uint64 `json:"bad"`      // out of order, duplicated or after a gap
	MinBeats uint64 `json:"minBeats"` // fewest heartbeats a live connection got since it opened
	LastRecv int64  `json:"lastRecv"` // unix ns of the round's last message received
	TimedOut bool   `json:"timedOut,omitempty"`
	Latency  Counts `json:"latency"`
}

// Add opens n more connections, n at DialConcurrency at a time, and returns
// when every handshake has succeeded or failed.
func (a *Agent) Add(n int) {
	sem := make(chan struct{}, DialConcurrency)
	var hs sync.WaitGroup
	for range n {
		sem <- struct{}{}
		hs.Add(1)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			c := &conn{a: a}
			br, err := c.dial(a.addr, a.path, a.kind)
			<-sem
			if err != nil {
				a.mu.Lock()
				a.failed++
				if a.firstErr == "" {
					a.firstErr = err.Error()
				}
				a.mu.Unlock()
				hs.Done()
				return
			}
			a.mu.Lock()
			a.conns = append(a.conns, c)
			a.mu.Unlock()
			hs.Done()
			if a.kind == KindWS {
				err = c.readWS(br)
			} else {
				err = c.readSSE(br, a.addr, a.path)
			}
			c.ended.Store(true)
			c.nc.Close()
			if r := a.round.Load(); r != nil && (c.cur.Load() != r || c.got.Load() < r.count) {
				// An ended connection will never complete its round.
				if r.remaining.Add(-1) == 0 {
					close(r.done)
				}
			}
			a.mu.Lock()
			if a.endErr == "" && err != nil {
				a.endErr = err.Error()
			}
			a.mu.Unlock()
		}()
	}
	hs.Wait()
}

// Expect starts a round: every live connection should now receive count
// messages starting at sequence from.
func (a *Agent) Expect(from, count uint64, latency bool) {
	r := &round{from: from, count: count, latency: latency, done: make(chan struct{})}
	a.mu.Lock()
	conns := a.conns
	a.mu.Unlock()
	live := 0
	for _, c := range conns {
		if !c.ended.Load() {
			live++
		}
	}
	r.remaining.Store(int64(live))
	if live == 0 || count == 0 {
		close(r.done)
	}
	a.round.Store(r)
}

// Wait waits up to timeout for every live connection to complete the round,
// then reports.
func (a *Agent) Wait(timeout time.Duration) Report {
	r := a.round.Load()
	timedOut := false
	if r != nil {
		t := time.NewTimer(timeout)
		select {
		case <-r.done:
		case <-t.C:
			timedOut = true
		}
		t.Stop()
	}
	rep := a.Report()
	rep.TimedOut = timedOut
	return rep
}

// Report says how the connections and the current round stand.
func (a *Agent) Report() Report {
	a.mu.Lock()
	conns := a.conns
	rep := Report{Failed: a.failed, FirstErr: a.firstErr, EndErr: a.endErr}
	a.mu.Unlock()
	r := a.round.Load()
	first := true
	for _, c := range conns {
		if c.ended.Load() {
			rep.Ended++
			continue
		}
		rep.Conns++
		var got, bad uint64
		beats := c.beats.Load()
		if r != nil && c.cur.Load() == r {
			got, bad = c.got.Load(), c.bad.Load()
			rep.LastRecv = max(rep.LastRecv, c.lastRecv.Load())
		}
		rep.Got += got
		rep.Bad += bad
		if r != nil && got == r.count {
			rep.Complete++
		}
		if first || beats < rep.MinBeats {
			rep.MinBeats = beats
		}
		first = false
	}
	if r != nil {
		rep.Latency = r.hist.Snapshot()
	}
	return rep
}

// Close closes every connection and waits for their readers to end.
func (a *Agent) Close() {
	a.mu.Lock()
	conns := a.conns
	a.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
	a.wg.Wait()
}

// Serve runs commands read as JSON lines from in and writes one Report as a
// JSON line to out for each, until in ends; then it closes every
// connection.
func (a *Agent) Serve(in io.Reader, out io.Writer) error {
	defer a.Close()
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var cmd Command
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			return fmt.Errorf("load: bad command %q: %w", sc.Text(), err)
		}
		var rep Report
		switch cmd.Op {
		case "add":
			a.Add(cmd.N)
			rep = a.Report()
		case "expect":
			a.Expect(cmd.From, cmd.Count, cmd.Latency)
			rep = a.Report()
		case "wait":
			rep = a.Wait(cmd.Timeout)
		case "report":
			rep = a.Report()
		case "close":
			a.Close()
			rep = a.Report()
		default:
			return fmt.Errorf("load: unknown command %q", cmd.Op)
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	return sc.Err()
}
