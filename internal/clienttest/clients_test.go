package clienttest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/ws"
)

// A client is one row of the table: a program nobody on the project
// wrote, with how to start it for an event stream and for a WebSocket.
// A nil start function is a column the client cannot do, with the reason
// in the matching na field.
type client struct {
	name string
	h2   bool // the server speaks HTTP/2 over TLS

	// prepare checks that the program is there and returns what the start
	// functions need (a directory, an interpreter).
	prepare func(t *testing.T) string

	// sse starts the client on an event stream, resuming from lastID
	// when it is not empty.
	sse   func(t *testing.T, env, url, lastID string) *proc
	sseNA string
	// sseReconnects is set for a client that reconnects by itself after
	// a dropped stream, sending Last-Event-ID: the SSE resume is that
	// reconnect.
	sseReconnects bool

	// ws starts the client on a WebSocket, offering permessage-deflate.
	ws   func(t *testing.T, env, url string) *proc
	wsNA string
	// wsSmallWindow, when set, starts the client offering
	// permessage-deflate with 10-bit windows both ways
	// (server_max_window_bits=10, client_max_window_bits=10).
	wsSmallWindow func(t *testing.T, env, url string) *proc
}

// The table's columns.
var columns = []string{"SSE", "WS", "compression", "resume"}

func clients() []client {
	return []client{
		{
			name:          "node ws 8.23.1 + eventsource 4.1.0",
			prepare:       prepareNode,
			sseReconnects: true,
			sse: func(t *testing.T, dir, u, lastID string) *proc {
				return startProc(t, dir, jsonLines, "node", "sse.mjs", u, lastID)
			},
			ws: func(t *testing.T, dir, u string) *proc {
				return startProc(t, dir, jsonLines, "node", "ws.mjs", u)
			},
			wsSmallWindow: func(t *testing.T, dir, u string) *proc {
				return startProc(t, dir, jsonLines, "node", "ws.mjs", u, `{"serverMaxWindowBits":10,"clientMaxWindowBits":10}`)
			},
		},
		{
			name:    "python websockets (python3-websockets)",
			prepare: func(t *testing.T) string { return python(t, "websockets", "python3-websockets") },
			sseNA:   "a WebSocket library",
			ws: func(t *testing.T, py, u string) *proc {
				return startProc(t, scriptDir(t, "python"), jsonLines, py, "websockets_ws.py", u)
			},
			wsSmallWindow: func(t *testing.T, py, u string) *proc {
				return startProc(t, scriptDir(t, "python"), jsonLines, py, "websockets_ws.py", u, "10")
			},
		},
		{
			name:    "python aiohttp (python3-aiohttp)",
			prepare: func(t *testing.T) string { return python(t, "aiohttp", "python3-aiohttp") },
			sse: func(t *testing.T, py, u, lastID string) *proc {
				return startProc(t, scriptDir(t, "python"), jsonLines, py, "aiohttp_client.py", "sse", u, lastID)
			},
			ws: func(t *testing.T, py, u string) *proc {
				return startProc(t, scriptDir(t, "python"), jsonLines, py, "aiohttp_client.py", "ws", u)
			},
		},
		curlClient(false),
		curlClient(true),
		chromiumClient(false),
		chromiumClient(true),
	}
}

// curlClient is curl over HTTP/1.1, or over HTTP/2 with TLS, reading the
// stream as `curl -N` shows it.
func curlClient(h2 bool) client {
	name, flags := "curl --http1.1", []string{"--http1.1"}
	if h2 {
		name, flags = "curl --http2 (TLS)", []string{"--http2", "--insecure"}
	}
	return client{
		name: name,
		h2:   h2,
		prepare: func(t *testing.T) string {
			need(t, "curl", "apt-get install -y curl")
			return ""
		},
		sse: func(t *testing.T, _, u, lastID string) *proc {
			args := append([]string{"--silent", "--show-error", "--no-buffer", "-H", "Accept: text/event-stream"}, flags...)
			if lastID != "" {
				args = append(args, "-H", "Last-Event-ID: "+lastID)
			}
			p := startProc(t, "", sseLines, "curl", append(args, u)...)
			p.noStdin = true
			return p
		},
		wsNA: "curl 7.88 (Debian 12) has no WebSocket support",
	}
}

// need fails the test when program is not on PATH, naming install.
func need(t *testing.T, program, install string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		t.Fatalf("%s is not installed: %s (.ci/run does)", program, install)
	}
}

// scriptDir returns the directory of the scripts of kind.
func scriptDir(t *testing.T, kind string) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("testdata", kind))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// prepareNode installs the Node packages of testdata/node with npm ci, in
// a temporary copy, and returns its directory.
func prepareNode(t *testing.T) string {
	t.Helper()
	need(t, "node", "apt-get install -y nodejs npm")
	need(t, "npm", "apt-get install -y nodejs npm")
	dir := copyDir(t, scriptDir(t, "node"))
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in a copy of testdata/node: %v\n%s", err, out)
	}
	return dir
}

// python returns a Python interpreter that imports module: Debian's
// /usr/bin/python3 first, where Debian's packages are, then python3 on
// PATH.
func python(t *testing.T, module, pkg string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import "+module).Run() == nil {
			return py
		}
	}
	t.Fatalf("no python3 imports %s: apt-get install -y %s (.ci/run does)", module, pkg)
	return ""
}

// TestClients runs every client against a Broker and a Hub and prints the
// table: client | SSE | WS | compression | resume, each cell "ok",
// "FAIL" or "n/a" with the reason.
func TestClients(t *testing.T) {
	var rows [][]string
	for _, c := range clients() {
		row := []string{c.name}
		t.Run(c.name, func(t *testing.T) {
			env := c.prepare(t)
			checks := map[string]struct {
				na  string
				run func(t *testing.T)
			}{
				"SSE": {c.sseNA, func(t *testing.T) { checkSSE(t, c, env) }},
				"WS":  {c.wsNA, func(t *testing.T) { checkWS(t, c, env) }},
				"compression": {c.wsNA, func(t *testing.T) {
					checkCompression(t, c, env)
				}},
				"resume": {"", func(t *testing.T) { checkResume(t, c, env) }},
			}
			for _, col := range columns {
				ch := checks[col]
				if ch.na != "" {
					row = append(row, "n/a: "+ch.na)
					continue
				}
				ran := false
				switch ok := t.Run(col, func(t *testing.T) { ran = true; ch.run(t) }); {
				case !ran:
					row = append(row, "not run") // -run chose other columns
				case ok:
					row = append(row, "ok")
				default:
					row = append(row, "FAIL")
				}
			}
		})
		if len(row) == 1 {
			continue // not run: -run chose other clients
		}
		for len(row) < 1+len(columns) {
			row = append(row, "FAIL") // the client's setup failed
		}
		rows = append(rows, row)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "client | %s\n", strings.Join(columns, " | "))
	for _, r := range rows {
		fmt.Fprintf(&b, "%s\n", strings.Join(r, " | "))
	}
	t.Logf("the table (cd internal/clienttest && go test -v -run TestClients ./...):\n%s", b.String())
}

// checkSSE: events arrive in order and unbuffered: each is published
// only once the one before it has reached the client.
func checkSSE(t *testing.T, c client, env string) {
	s := startServer(t, c.h2)
	p := c.sse(t, env, s.url("/events?topic=t"), "")
	o := wait(t, s.sseOpened, "stream")
	if want := map[bool]int{false: 1, true: 2}[c.h2]; o.proto != want {
		t.Errorf("the stream came over HTTP/%d, want HTTP/%d", o.proto, want)
	}
	for i := range 3 {
		data := fmt.Sprintf("event %d", i)
		id := s.publishSSE(t, data)
		if l := p.next(); l.Ev != "event" || l.ID != id || l.Data != data {
			t.Fatalf("the client got %+v, want event %q with ID %q", l, data, id)
		}
	}
	p.stop()
}

// hubMessage is a Hub message as a client without a subprotocol gets it.
type hubMessage struct {
	ID    string `json:"id"`
	Topic string `json:"topic"`
	Data  string `json:"data"`
}

// nextHubMessage reads the next line of p as a published message.
func nextHubMessage(t *testing.T, p *proc) hubMessage {
	t.Helper()
	l := p.next()
	var m hubMessage
	if l.Ev != "message" || l.Binary || json.Unmarshal([]byte(l.Data), &m) != nil {
		t.Fatalf("the client got %+v, want a hub message", l)
	}
	return m
}

// expectHubMessage publishes data and checks that p gets it.
func expectHubMessage(t *testing.T, s *server, p *proc, data string) string {
	t.Helper()
	id := s.publishWS(t, data)
	if m := nextHubMessage(t, p); m.ID != id || m.Topic != "t" || m.Data != data {
		t.Fatalf("the client got %+v, want %q with ID %q", m, data, id)
	}
	return id
}

// echo sends data from p and checks that the server got it and that its
// echo came back.
func echo(t *testing.T, s *server, p *proc, data string, binary bool) {
	t.Helper()
	p.send(data, binary)
	got := wait(t, s.wsGot, "message from the client")
	if got.data != data || (got.typ == ws.MessageBinary) != binary {
		t.Fatalf("the server got %v %.40q, want %.40q (binary %v)", got.typ, got.data, data, binary)
	}
	if l := p.next(); l.Ev != "message" || l.Binary != binary || l.Data != data {
		t.Fatalf("the client got %.80v, want the echo of %.40q (binary %v)", l, data, binary)
	}
}

// checkWS: messages both ways, text and binary, a close code from the
// server and one from the client, the close for a message over the read
// limit, and the close of Hub.Shutdown.
func checkWS(t *testing.T, c client, env string) {
	s := startServer(t, c.h2)
	p := c.ws(t, env, s.wsURL("/ws?topic=t"))
	t.Logf("the handshake came over HTTP/%d", wait(t, s.wsOpened, "connection").proto)
	for i := range 3 {
		expectHubMessage(t, s, p, fmt.Sprintf("message %d", i))
	}
	echo(t, s, p, "hello from the client", false)
	echo(t, s, p, "binary from the client", true)
	p.send(closeMe, false)
	wait(t, s.wsGot, "close request")
	if l := p.next(); l.Ev != "close" || l.Code != serverCloseCode || l.Reason != "server says bye" {
		t.Errorf("the client got %+v, want close %d %q", l, serverCloseCode, "server says bye")
	}
	wait(t, s.wsClosed, "close of the first connection")
	p.stop()

	p = c.ws(t, env, s.wsURL("/ws?topic=t"))
	wait(t, s.wsOpened, "second connection")
	expectHubMessage(t, s, p, "before the client closes")
	p.closeWS(clientCloseCode, "client says bye")
	if err := wait(t, s.wsClosed, "close of the second connection"); closeCode(err) != clientCloseCode {
		t.Errorf("the server's OnClose got %v, want close code %d", err, clientCloseCode)
	}
	p.stop()

	// A message over the read limit, compressed or not: the client gets
	// StatusMessageTooBig, and the server's OnClose says so.
	p = c.ws(t, env, s.wsURL("/ws?topic=t"))
	wait(t, s.wsOpened, "connection with a message too big")
	p.send(strings.Repeat("x", readLimit+1), false)
	if l := p.next(); l.Ev != "close" || l.Code != int(ws.StatusMessageTooBig) {
		t.Errorf("the client got %.80v after a message over the read limit, want close %d", l, ws.StatusMessageTooBig)
	}
	if err := wait(t, s.wsClosed, "close of the connection with a message too big"); closeCode(err) != ws.StatusMessageTooBig {
		t.Errorf("the server's OnClose got %v, want close code %d", err, ws.StatusMessageTooBig)
	}
	p.stop()

	// Hub.Shutdown: what was published before it arrives, then a close
	// with StatusGoingAway, which the client answers.
	p = c.ws(t, env, s.wsURL("/ws?topic=t"))
	wait(t, s.wsOpened, "third connection")
	expectHubMessage(t, s, p, "before the shutdown")
	id := s.publishWS(t, "published just before the shutdown")
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := s.hub.Shutdown(ctx); err != nil {
		t.Errorf("Hub.Shutdown: %v (the client did not answer the close)", err)
	}
	if m := nextHubMessage(t, p); m.ID != id {
		t.Errorf("the client got %+v, want the message published before the shutdown (ID %q)", m, id)
	}
	if l := p.next(); l.Ev != "close" || l.Code != int(ws.StatusGoingAway) {
		t.Errorf("the client got %+v on Hub.Shutdown, want close %d", l, ws.StatusGoingAway)
	}
	p.stop()
}

// checkCompression: a client that offers permessage-deflate gets it, and
// large messages go both ways compressed and intact.
func checkCompression(t *testing.T, c client, env string) {
	checkDeflate(t, c.ws, env, c.h2)
	if c.wsSmallWindow != nil {
		t.Run("10-bit windows", func(t *testing.T) { checkDeflate(t, c.wsSmallWindow, env, c.h2) })
	}
}

// checkDeflate checks the compression of the client that start starts.
func checkDeflate(t *testing.T, start func(t *testing.T, env, url string) *proc, env string, h2 bool) {
	s := startServer(t, h2)
	p := start(t, env, s.wsURL("/ws?topic=t"))
	o := p.open()
	wait(t, s.wsOpened, "connection")
	// What the client reports is the server's answer to its offer.
	if !strings.Contains(o.Extensions, "permessage-deflate") {
		t.Errorf("the client reports extensions %q, want permessage-deflate", o.Extensions)
	}
	// A frame of at most 1 KiB is compressed even with a 10-bit window; a
	// larger one only with a window of its size.
	for _, data := range []string{strings.Repeat("compressible ", 70), strings.Repeat("compressible text, ", 1000)} {
		expectHubMessage(t, s, p, data)
		echo(t, s, p, data, false)
	}
	p.stop()
}

// checkResume: a client that comes back with the last ID it saw gets
// exactly what was published while it was away, then live messages.
func checkResume(t *testing.T, c client, env string) {
	if c.sse != nil {
		t.Run("SSE", func(t *testing.T) {
			s := startServer(t, c.h2)
			p := c.sse(t, env, s.url("/events?topic=t"), "")
			wait(t, s.sseOpened, "stream")
			var last string
			for i := range 2 {
				last = s.publishSSE(t, fmt.Sprintf("seen %d", i))
				if l := p.next(); l.ID != last {
					t.Fatalf("the client got %+v, want ID %q", l, last)
				}
			}
			if c.sseReconnects {
				// The connection drops: what is published after it cannot
				// reach the client but by its reconnect.
				s.ts.CloseClientConnections()
			} else {
				p.stop()
			}
			missed := []string{"missed 0", "missed 1"}
			var ids []string
			for _, d := range missed {
				ids = append(ids, s.publishSSE(t, d))
			}
			if !c.sseReconnects {
				p = c.sse(t, env, s.url("/events?topic=t"), last)
			}
			if o := wait(t, s.sseOpened, "second stream"); o.lastEventID != last {
				t.Errorf("the second stream resumes from %q, want %q", o.lastEventID, last)
			}
			for i, d := range missed {
				if l := p.nextAfterError(); l.Ev != "event" || l.ID != ids[i] || l.Data != d {
					t.Fatalf("the resumed client got %+v, want %q with ID %q", l, d, ids[i])
				}
			}
			id := s.publishSSE(t, "live")
			if l := p.next(); l.ID != id || l.Data != "live" {
				t.Fatalf("the resumed client got %+v, want live with ID %q", l, id)
			}
			p.stop()
		})
	}
	if c.ws != nil {
		t.Run("WS", func(t *testing.T) {
			s := startServer(t, c.h2)
			p := c.ws(t, env, s.wsURL("/ws?topic=t"))
			wait(t, s.wsOpened, "connection")
			var last string
			for i := range 2 {
				last = expectHubMessage(t, s, p, fmt.Sprintf("seen %d", i))
			}
			p.stop()
			missed := []string{"missed 0", "missed 1"}
			var ids []string
			for _, d := range missed {
				ids = append(ids, s.publishWS(t, d))
			}
			p = c.ws(t, env, s.wsURL("/ws?topic=t&lastEventId="+url.QueryEscape(last)))
			wait(t, s.wsOpened, "second connection")
			for i, d := range missed {
				if m := nextHubMessage(t, p); m.ID != ids[i] || m.Data != d {
					t.Fatalf("the resumed client got %+v, want %q with ID %q", m, d, ids[i])
				}
			}
			expectHubMessage(t, s, p, "live")
			p.stop()
		})
	}
}
