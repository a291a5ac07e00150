package ws

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestClientScript(t *testing.T) {
	srv := httptest.NewServer(ClientScript)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(string(body), "RealtimeSocket") {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional GET: %d, want 304", resp.StatusCode)
	}
	resp, _ = http.Post(srv.URL, "text/plain", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d, want 405", resp.StatusCode)
	}
}

// nodeClient is a Node program that drives client.js: it prints one JSON
// line per event and obeys commands read from stdin, one per line.
const nodeClient = `
const RealtimeSocket = require(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const rt = new RealtimeSocket(process.argv[3], {topics: ["news"], minDelay: 20, maxDelay: 100});
rt.onopen = () => out({ev: "open", lastEventId: rt.lastEventId, topics: rt.topics});
rt.onmessage = (m) => out({ev: "message", id: m.id, topic: m.topic,
  data: m.data instanceof ArrayBuffer ? Array.from(new Uint8Array(m.data)) : m.data});
rt.ongap = (g) => out({ev: "gap", gap: g});
rt.onclose = (e) => out({ev: "close", code: e.code});
require("readline").createInterface({input: process.stdin}).on("line", (l) => {
  const [cmd, arg] = l.split(" ");
  if (cmd === "send") out({ev: "sent", ok: rt.send({say: arg})});
  if (cmd === "join") rt.join(arg);
  if (cmd === "quit") { rt.close(); process.exit(0); }
});
`

// TestClientJS runs client.js in Node (its built-in WebSocket) against a
// Hub: messages, a reconnection that resumes with lastEventId, a gap,
// send, and join.
func TestClientJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for this test: apt-get install nodejs")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "drive.js")
	os.WriteFile(script, []byte(nodeClient), 0o644)
	lib, _ := filepath.Abs("client.js")

	conns := make(chan *Conn, 8)
	said := make(chan string, 8)
	var refuse atomic.Bool // keeps the client away while set
	h, srv := serveHub(t, HubOptions{
		Epoch:       "ep",
		HistorySize: 4,
		Topics: func(r *http.Request) ([]string, error) {
			if refuse.Load() {
				return nil, &StatusError{Code: http.StatusServiceUnavailable}
			}
			return r.URL.Query()["topic"], nil
		},
		OnConnect: func(c *Conn, r *http.Request) { conns <- c },
		OnMessage: func(c *Conn, typ MessageType, data []byte) {
			said <- string(data)
			c.Send(MessageText, []byte("direct"))
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "--no-warnings", script, lib, srv.URL)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		fmt.Fprintln(stdin, "quit")
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	next := func(want string) map[string]any {
		t.Helper()
		for lines.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(lines.Bytes(), &ev); err != nil {
				t.Fatalf("node printed %q", lines.Text())
			}
			if ev["ev"] == want {
				return ev
			}
		}
		t.Fatalf("node ended waiting for %q: %v", want, lines.Err())
		return nil
	}

	first := <-conns
	next("open")
	h.Publish("news", MessageText, []byte("one"))
	h.PublishJSON("news", map[string]int{"n": 2})
	h.Publish("news", MessageBinary, []byte{1, 2})
	for _, want := range []string{`"one"`, `{"n":2}`, `[1,2]`} {
		ev := next("message")
		if got, _ := json.Marshal(ev["data"]); string(got) != want || ev["topic"] != "news" {
			t.Fatalf("message %v, want data %s", ev, want)
		}
	}

	// Drop the connection; publish while the client is away.
	refuse.Store(true)
	first.CloseNow()
	h.Publish("news", MessageText, []byte("missed"))
	refuse.Store(false)
	second := <-conns
	if ev := next("open"); ev["lastEventId"] != "ep-3" {
		t.Fatalf("reconnected with lastEventId %v, want ep-3", ev["lastEventId"])
	}
	if ev := next("message"); ev["data"] != "missed" || ev["id"] != "ep-4" {
		t.Fatalf("after reconnecting: %v, want the missed message", ev)
	}

	// Away longer than the history holds: a gap, then what is left.
	refuse.Store(true)
	second.CloseNow()
	for i := range 6 {
		h.Publish("news", MessageText, fmt.Appendf(nil, "later %d", i))
	}
	refuse.Store(false)
	<-conns
	if ev := next("gap"); ev["gap"].(map[string]any)["reason"] != "history exceeded" {
		t.Fatalf("gap %v", ev)
	}
	for i := 2; i < 6; i++ {
		if ev := next("message"); ev["data"] != fmt.Sprintf("later %d", i) {
			t.Fatalf("after the gap: %v", ev)
		}
	}

	// Send, and the server's direct answer.
	fmt.Fprintln(stdin, "send hello")
	if ev := next("sent"); ev["ok"] != true {
		t.Fatalf("send: %v", ev)
	}
	if s := <-said; s != `{"say":"hello"}` {
		t.Fatalf("server got %q", s)
	}
	if ev := next("message"); ev["data"] != "direct" || ev["id"] != nil {
		t.Fatalf("direct message: %v", ev)
	}

	// Join: reconnects with both topics.
	fmt.Fprintln(stdin, "join sport")
	c := <-conns
	if got := strings.Join(c.Topics(), ","); got != "news,sport" {
		t.Fatalf("topics after join: %s", got)
	}
	h.Publish("sport", MessageText, []byte("goal"))
	if ev := next("message"); ev["data"] != "goal" {
		t.Fatalf("after join: %v", ev)
	}
}
