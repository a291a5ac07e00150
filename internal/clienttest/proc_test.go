package clienttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/sse"
)

// procBound bounds the life of one client program: it only catches a
// program that hangs.
const procBound = 3 * time.Minute

// line is one thing a client program reports: an "open", an "event"
// (SSE), a "message" or a "close" (WebSocket), or an "error".
type line struct {
	Ev         string `json:"ev"`
	ID         string `json:"id"`
	Data       string `json:"data"`
	Binary     bool   `json:"binary"`
	Extensions string `json:"extensions"`
	Code       int    `json:"code"`
	Reason     string `json:"reason"`
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A proc is a client program running as a subprocess: what it reports
// comes in lines, commands go to its stdin.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan line
	stderr lockedBuffer
	cancel context.CancelFunc
	exited chan struct{}

	// noStdin is set for a program that reads no stdin (curl): stop
	// interrupts it.
	noStdin bool

	// For a client that is not a subprocess (a browser tab): commandFn
	// takes the commands and stopFn ends it; cmd is nil.
	commandFn func(cmd []byte) error
	stopFn    func()
}

// jsonLines reads the JSON lines a client script writes.
func jsonLines(r io.Reader, out chan<- line) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return err
		}
		out <- l
	}
	return sc.Err()
}

// sseLines reads a raw event stream (curl's output) and reports its
// events.
func sseLines(r io.Reader, out chan<- line) error {
	rd := sse.NewReader(r)
	for {
		e, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		out <- line{Ev: "event", ID: e.ID, Data: string(e.Data)}
	}
}

// startProc runs name with args in dir and reads its stdout with parse.
func startProc(t *testing.T, dir string, parse func(io.Reader, chan<- line) error, name string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procBound)
	p := &proc{t: t, lines: make(chan line, 64), cancel: cancel, exited: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.Dir = dir
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		if err := parse(stdout, p.lines); err != nil {
			p.stderr.Write([]byte("reading its output: " + err.Error() + "\n"))
		}
		io.Copy(io.Discard, stdout)
		close(p.lines)
	}()
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	return p
}

// next returns the next line that is not "open"; it fails the test on an
// "error", on the program's exit and after waitBound.
func (p *proc) next() line {
	p.t.Helper()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("the client exited; its stderr:\n%s", p.stderr.String())
			}
			switch l.Ev {
			case "open":
				continue
			case "error":
				p.t.Fatalf("the client reports an error: %s; its stderr:\n%s", l.Reason, p.stderr.String())
			}
			return l
		case <-time.After(waitBound):
			p.t.Fatalf("the client reported nothing within %v; its stderr:\n%s", waitBound, p.stderr.String())
		}
	}
}

// nextAfterError is next for a client whose connection was dropped on
// purpose: the errors it reports for the drop are skipped.
func (p *proc) nextAfterError() line {
	p.t.Helper()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("the client exited; its stderr:\n%s", p.stderr.String())
			}
			if l.Ev == "open" || l.Ev == "error" {
				continue
			}
			return l
		case <-time.After(waitBound):
			p.t.Fatalf("the client reported nothing within %v; its stderr:\n%s", waitBound, p.stderr.String())
		}
	}
}

// open waits for the "open" line and returns it.
func (p *proc) open() line {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("the client exited; its stderr:\n%s", p.stderr.String())
		}
		if l.Ev != "open" {
			p.t.Fatalf("the client reports %+v, want open; its stderr:\n%s", l, p.stderr.String())
		}
		return l
	case <-time.After(waitBound):
		p.t.Fatalf("the client did not open within %v; its stderr:\n%s", waitBound, p.stderr.String())
	}
	panic("unreachable")
}

// command sends a command to the program's stdin.
func (p *proc) command(cmd any) {
	p.t.Helper()
	b, _ := json.Marshal(cmd)
	write := func(b []byte) error {
		_, err := p.stdin.Write(append(b, '\n'))
		return err
	}
	if p.commandFn != nil {
		write = p.commandFn
	}
	if err := write(b); err != nil {
		p.t.Fatalf("command to the client: %v; its stderr:\n%s", err, p.stderr.String())
	}
}

// send asks a WebSocket client to send data.
func (p *proc) send(data string, binary bool) {
	p.t.Helper()
	p.command(map[string]any{"op": "send", "data": data, "binary": binary})
}

// closeWS asks a WebSocket client to close with code and reason.
func (p *proc) closeWS(code int, reason string) {
	p.t.Helper()
	p.command(map[string]any{"op": "close", "code": code, "reason": reason})
}

// stop ends the program as its user would: its stdin ends, and a program
// that reads no stdin (curl) is interrupted.
func (p *proc) stop() {
	if p.stopFn != nil {
		p.stopFn()
		return
	}
	if p.noStdin {
		p.kill()
		return
	}
	p.stdin.Close()
	select {
	case <-p.exited:
		return
	case <-time.After(waitBound):
	}
	p.kill()
}

// kill ends the program at once and waits for it.
func (p *proc) kill() {
	p.stdin.Close()
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case <-p.exited:
	case <-time.After(waitBound):
		p.cancel()
		<-p.exited
	}
	p.cancel()
}

// copyDir copies the regular files of src to a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
