package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// A node process is this test binary run again with nodeProcessEnv set to
// its flags, as JSON: it runs a node with them, prints "ready <addr>" once
// it serves, and stops cleanly (exit status 0) when its standard input
// ends or it gets SIGTERM.
const nodeProcessEnv = "REALTIME_CLUSTER_NODE_ARGS"

// A NATS process is this test binary run again with natsProcessEnv set
// to its store folder: it runs an embedded NATS server with JetStream on
// 127.0.0.1, prints "ready <addr>", and stops when its standard input
// ends. The benchmarks read its CPU apart from theirs.
const natsProcessEnv = "REALTIME_CLUSTER_NATS_STORE"

func TestMain(m *testing.M) {
	if args := os.Getenv(nodeProcessEnv); args != "" {
		os.Exit(nodeProcess(args))
	}
	if dir := os.Getenv(natsProcessEnv); dir != "" {
		os.Exit(natsProcess(dir))
	}
	os.Exit(m.Run())
}

// natsClusterEnv, set beside natsProcessEnv, makes the NATS process one
// server of a cluster: its natsClusterConfig, as JSON.
const natsClusterEnv = "REALTIME_CLUSTER_NATS_CLUSTER"

// natsClusterConfig is one server's place in a NATS cluster on 127.0.0.1.
type natsClusterConfig struct {
	Name        string   // the server's
	Port        int      // for clients
	ClusterPort int      // for the other servers' routes
	Routes      []string // the other servers' cluster URLs
}

func natsProcess(dir string) int {
	var s *server.Server
	var err error
	if cfg := os.Getenv(natsClusterEnv); cfg != "" {
		s, err = startClustered(dir, cfg)
	} else {
		s, err = startEmbedded("127.0.0.1:0", dir, "")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats process:", err)
		return 1
	}
	fmt.Printf("ready %s\n", s.Addr())
	io.Copy(io.Discard, os.Stdin) // until the parent closes it, or dies
	s.Shutdown()
	s.WaitForShutdown()
	return 0
}

// startClustered starts one server of a NATS cluster with JetStream.
func startClustered(dir, cfgJSON string) (*server.Server, error) {
	var c natsClusterConfig
	if err := json.Unmarshal([]byte(cfgJSON), &c); err != nil {
		return nil, err
	}
	s, err := server.NewServer(&server.Options{
		ServerName: c.Name,
		Host:       "127.0.0.1",
		Port:       c.Port,
		JetStream:  true,
		StoreDir:   dir,
		Cluster:    server.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: c.ClusterPort},
		Routes:     server.RoutesFromStr(strings.Join(c.Routes, ",")),
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, err
	}
	s.Start()
	if !s.ReadyForConnections(embeddedReadyTimeout) {
		s.Shutdown()
		return nil, fmt.Errorf("nats %s: not ready within %v", c.Name, embeddedReadyTimeout)
	}
	return s, nil
}

func nodeProcess(argsJSON string) int {
	var args []string
	if err := json.Unmarshal([]byte(argsJSON), &args); err != nil {
		fmt.Fprintln(os.Stderr, "node process:", err)
		return 2
	}
	c, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node process:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		io.Copy(io.Discard, os.Stdin) // until the parent closes it, or dies
		cancel()
	}()
	err = run(ctx, c, func(addr string) { fmt.Printf("ready %s\n", addr) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "node process:", err)
		return 1
	}
	return 0
}

// nodeProc is a node process started by a test.
type nodeProc struct {
	name  string
	url   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	exit  chan error
}

// startNodeProc starts a node process on the NATS server at natsURL, with
// more flags if given.
func startNodeProc(t testing.TB, name, natsURL string, flags ...string) *nodeProc {
	t.Helper()
	args, _ := json.Marshal(append([]string{"-addr", "127.0.0.1:0", "-name", name, "-nats", natsURL, "-stream", testStream, "-publish-token", testToken}, flags...))
	return startChild(t, name, "http://", nodeProcessEnv+"="+string(args))
}

// startNATSProc starts a NATS process with its store in a folder of the
// test's.
func startNATSProc(t testing.TB) *nodeProc {
	t.Helper()
	return startChild(t, "nats", "nats://", natsProcessEnv+"="+t.TempDir())
}

// startNATSCluster starts n NATS processes that form one cluster with
// JetStream, and returns once JetStream answers.
func startNATSCluster(t testing.TB, n int) []*nodeProc {
	t.Helper()
	free := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	cfgs := make([]natsClusterConfig, n)
	for i := range cfgs {
		cfgs[i] = natsClusterConfig{Name: fmt.Sprint("s", i), Port: free(), ClusterPort: free()}
	}
	var procs []*nodeProc
	for i := range cfgs {
		for j := range cfgs {
			if j != i {
				cfgs[i].Routes = append(cfgs[i].Routes, fmt.Sprintf("nats-route://127.0.0.1:%d", cfgs[j].ClusterPort))
			}
		}
		cfg, _ := json.Marshal(cfgs[i])
		cmd := startChild(t, cfgs[i].Name, "nats://", natsProcessEnv+"="+t.TempDir(), natsClusterEnv+"="+string(cfg))
		procs = append(procs, cmd)
	}
	nc, err := nats.Connect(procs[0].url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitfor.State(t, "JetStream of the NATS cluster", startTimeout, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil, fmt.Sprint(err)
	})
	return procs
}

// startChild runs this test binary again with env added, and returns once
// it printed "ready <addr>"; its url is scheme and addr.
func startChild(t testing.TB, name, scheme string, env ...string) *nodeProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = &prefixWriter{t: t, prefix: name + ": "}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{name: name, cmd: cmd, stdin: stdin, exit: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- addr
			}
		}
		p.exit <- cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case addr := <-ready:
		p.url = scheme + addr
	case err := <-p.exit:
		p.exit <- err
		t.Fatalf("process %s ended before it was ready: %v", name, err)
	case <-time.After(startTimeout):
		t.Fatalf("process %s not ready within %v", name, startTimeout)
	}
	return p
}

// stop ends the process cleanly, and fails t unless it exits with 0 (a
// process killed by the test is expected to have exited already).
func (p *nodeProc) stop(t testing.TB) {
	p.stdin.Close()
	select {
	case err := <-p.exit:
		p.exit <- err
		if err != nil && !p.killed() {
			t.Errorf("node process %s: %v", p.name, err)
		}
	case <-time.After(DefaultShutdownTimeout + 5*time.Second):
		p.cmd.Process.Kill()
		t.Errorf("node process %s did not stop", p.name)
	}
}

func (p *nodeProc) killed() bool {
	var ee *exec.ExitError
	select {
	case err := <-p.exit:
		p.exit <- err
		return errors.As(err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	default:
		return false
	}
}

// kill ends the process with SIGKILL: its connections are cut, its
// consumer is left on the server.
func (p *nodeProc) kill(t *testing.T) {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-p.exit
	p.exit <- err
}

// prefixWriter writes a child's standard error to the test log, line by
// line, while the test runs.
type prefixWriter struct {
	t      testing.TB
	prefix string
	buf    []byte
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		w.t.Log(w.prefix + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

// Three node processes; one is killed with SIGKILL in the middle of a
// burst published through the others: its SSE and WebSocket clients
// resume on the two others and get every message once, in order; with
// filtered nodes too, where the two others did not apply their topics.
func TestNodeProcessKilled(t *testing.T) {
	for name, flags := range map[string][]string{"whole stream": nil, "filtered": {"-filtered"}} {
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			ns := startNATS(t)
			p1 := startNodeProc(t, "p1", ns.url(), flags...)
			p2 := startNodeProc(t, "p2", ns.url(), flags...)
			p3 := startNodeProc(t, "p3", ns.url(), flags...)

			from := waitReady(t, p1.url).Epoch + "-0"
			sseClient := followSSE(t, p1.url, testTopics, from)
			wsClient := followWS(t, p1.url, testTopics, from)

			const total = 400
			b2 := startBurst(context.Background(), p2.url, total/2, "p2")
			b3 := startBurst(context.Background(), p3.url, total/2, "p3")
			sseClient.waitCount(t, 50)
			wsClient.waitCount(t, 50)
			p1.kill(t)

			sseLast, wsLast := sseClient.stop(), wsClient.stop()
			sseBefore, wsBefore := sseClient.snapshot(), wsClient.snapshot()
			sseResumed := followSSE(t, p2.url, testTopics, sseLast)
			wsResumed := followWS(t, p3.url, testTopics, wsLast)
			want := bySeq(append(b2.wait(t), b3.wait(t)...))

			sseResumed.waitCount(t, len(after(t, want, sseLast)))
			wsResumed.waitCount(t, len(after(t, want, wsLast)))
			checkExactly(t, "sse before the kill", sseBefore, want[:len(sseBefore)])
			checkExactly(t, "ws before the kill", wsBefore, want[:len(wsBefore)])
			checkExactly(t, "sse resumed on p2", sseResumed.snapshot(), after(t, want, sseLast))
			checkExactly(t, "ws resumed on p3", wsResumed.snapshot(), after(t, want, wsLast))
		})
	}
}
