package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/realtime-go/realtime/internal/bench/load"
	"github.com/realtime-go/realtime/internal/bench/servers"
)

// StartTimeout bounds how long a child process may take to say it is
// ready.
const StartTimeout = 30 * time.Second

// serverProc is a server child process.
type serverProc struct {
	lib     contender
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	data    string // host:port subscribers connect to
	ctl     string // host:port of the control endpoints
	client  *http.Client
	exited  chan struct{}
	waitErr error
}

// startChild starts the command line exe followed by args, its stderr
// ours, and returns pipes to its stdin and stdout.
func startChild(exe []string, args ...string) (*exec.Cmd, io.WriteCloser, io.ReadCloser, error) {
	cmd := exec.Command(exe[0], append(exe[1:len(exe):len(exe)], args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	return cmd, stdin, stdout, nil
}

// startServer starts lib's server process, with the flags extra after
// -serve and -heartbeat.
func startServer(lib contender, heartbeat time.Duration, extra ...string) (*serverProc, error) {
	args := []string{"-serve", lib.serve}
	if heartbeat > 0 {
		args = append(args, "-heartbeat", heartbeat.String())
	}
	args = append(args, extra...)
	cmd, stdin, stdout, err := startChild(lib.exe, args...)
	if err != nil {
		return nil, err
	}
	p := &serverProc{lib: lib, cmd: cmd, stdin: stdin, exited: make(chan struct{}),
		client: &http.Client{Timeout: 2 * time.Minute}}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	line := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		s, _ := br.ReadString('\n')
		line <- s
		io.Copy(io.Discard, br)
	}()
	t := time.NewTimer(StartTimeout)
	defer t.Stop()
	select {
	case s := <-line:
		f := strings.Fields(s)
		if len(f) != 3 || f[0] != "READY" {
			p.stop()
			return nil, fmt.Errorf("server %s: unexpected first line %q", lib.Name, s)
		}
		p.data, p.ctl = f[1], f[2]
		return p, nil
	case <-t.C:
		p.stop()
		return nil, fmt.Errorf("server %s: not ready after %v", lib.Name, StartTimeout)
	}
}

func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// stop closes the server's stdin, which ends it, and kills it if it has
// not ended within a few seconds.
func (p *serverProc) stop() {
	p.stdin.Close()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// publish has the server publish n messages interval apart to topic ("":
// the one every library has).
func (p *serverProc) publish(topic string, n int, interval time.Duration) (servers.PublishResult, error) {
	var res servers.PublishResult
	v := url.Values{"n": {fmt.Sprint(n)}, "interval": {interval.String()}}
	if topic != "" {
		v.Set("topic", topic)
	}
	resp, err := p.client.PostForm("http://"+p.ctl+"/publish", v)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return res, err
	}
	if res.Err != "" {
		return res, errors.New(res.Err)
	}
	return res, nil
}

func (p *serverProc) stats(gc bool) (servers.Stats, error) {
	return p.statsQuery(gc, false)
}

// statsQuery reads the server's stats, collecting garbage first with gc
// and starting its heap's peaks again with reset.
func (p *serverProc) statsQuery(gc, reset bool) (servers.Stats, error) {
	var st servers.Stats
	u := "http://" + p.ctl + "/stats?"
	if gc {
		u += "gc=1&"
	}
	if reset {
		u += "reset=1"
	}
	resp, err := p.client.Get(u)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// waitSubs polls the server until it counts at least n subscribers.
func (p *serverProc) waitSubs(n int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := p.stats(false)
		if err != nil {
			return 0, err
		}
		if st.Subscribers >= n {
			return st.Subscribers, nil
		}
		if time.Now().After(deadline) {
			return st.Subscribers, fmt.Errorf("server %s: %d subscribers after %v, want %d", p.lib.Name, st.Subscribers, timeout, n)
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("server %s exited: %v", p.lib.Name, p.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// fetch saves the control endpoint's path (a pprof profile) to file.
func (p *serverProc) fetch(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.ctl+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadProc is a load child process running a load.Agent.
type loadProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *json.Decoder
	conns int // connections asked for so far
}

func startLoad(exe []string, srv *serverProc, path string) (*loadProc, error) {
	cmd, stdin, stdout, err := startChild(exe, "-load", "-addr", srv.data, "-path", path, "-kind", srv.lib.Kind)
	if err != nil {
		return nil, err
	}
	return &loadProc{cmd: cmd, stdin: stdin, out: json.NewDecoder(stdout)}, nil
}

func (l *loadProc) do(c load.Command) (load.Report, error) {
	var rep load.Report
	b, _ := json.Marshal(c)
	if _, err := l.stdin.Write(append(b, '\n')); err != nil {
		return rep, fmt.Errorf("load process: %w", err)
	}
	if err := l.out.Decode(&rep); err != nil {
		return rep, fmt.Errorf("load process: %w", err)
	}
	return rep, nil
}

func (l *loadProc) stop() {
	l.stdin.Close()
	done := make(chan struct{})
	go func() { l.cmd.Wait(); close(done) }()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		l.cmd.Process.Kill()
		<-done
	}
}

// loadGroup is the load processes driving one server, each holding at
// most perProc connections that GET path.
type loadGroup struct {
	exe     []string
	srv     *serverProc
	path    string
	perProc int
	procs   []*loadProc
}

// add opens n more connections, starting load processes as needed.
func (g *loadGroup) add(n int) (load.Report, error) {
	type job struct {
		p *loadProc
		n int
	}
	var jobs []job
	for n > 0 {
		var p *loadProc
		if len(g.procs) > 0 && g.procs[len(g.procs)-1].conns < g.perProc {
			p = g.procs[len(g.procs)-1]
		} else {
			np, err := startLoad(g.exe, g.srv, g.path)
			if err != nil {
				return load.Report{}, err
			}
			g.procs = append(g.procs, np)
			p = np
		}
		k := min(n, g.perProc-p.conns)
		p.conns += k
		n -= k
		jobs = append(jobs, job{p, k})
	}
	reps := make([]load.Report, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { reps[i], errs[i] = j.p.do(load.Command{Op: "add", N: j.n}) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return load.Report{}, err
	}
	return g.all(load.Command{Op: "report"})
}

// all sends c to every load process at once and merges the reports.
func (g *loadGroup) all(c load.Command) (load.Report, error) {
	reps := make([]load.Report, len(g.procs))
	errs := make([]error, len(g.procs))
	var wg sync.WaitGroup
	for i, p := range g.procs {
		wg.Go(func() { reps[i], errs[i] = p.do(c) })
	}
	wg.Wait()
	var m load.Report
	for i, r := range reps {
		m.Conns += r.Conns
		m.Failed += r.Failed
		m.Ended += r.Ended
		if m.FirstErr == "" {
			m.FirstErr = r.FirstErr
		}
		if m.EndErr == "" {
			m.EndErr = r.EndErr
		}
		m.Complete += r.Complete
		m.Got += r.Got
		m.Bad += r.Bad
		if i == 0 || r.MinBeats < m.MinBeats {
			m.MinBeats = r.MinBeats
		}
		m.LastRecv = max(m.LastRecv, r.LastRecv)
		m.TimedOut = m.TimedOut || r.TimedOut
		m.Latency.Merge(r.Latency)
	}
	return m, errors.Join(errs...)
}

func (g *loadGroup) stop() {
	var wg sync.WaitGroup
	for _, p := range g.procs {
		wg.Go(p.stop)
	}
	wg.Wait()
}
