package browsertest

import (
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestCompressionEcho: Chromium, which offers permessage-deflate, gets it
// from examples/echo, and large and small messages, text and binary, come
// back the same: Chromium compresses what it sends, and the server
// inflates it and compresses its echo of the large ones.
func TestCompressionEcho(t *testing.T) {
	leakcheck.Check(t)
	srv := startServer(t, buildExample(t, "echo"))
	t.Cleanup(srv.kill) // the echo has no graceful stop: it ends on SIGTERM's default
	b := newBrowser(t)
	// Any page of the server's origin: the echo accepts same-origin pages.
	p := newTab(t, b, "echo", srv.url("/"))
	eval[bool](p, `(() => {
		const big = JSON.stringify(Array.from({length: 400}, (_, i) => ({symbol: "ACME", bid: 100 + i % 7, ask: 101.5})));
		const bytes = new Uint8Array(20000).map((_, i) => i % 13);
		window.z = {ext: null, want: [big, "small", bytes.join(",")], got: []};
		const s = new WebSocket("ws://" + location.host + "/ws");
		s.binaryType = "arraybuffer";
		s.onopen = () => { z.ext = s.extensions; s.send(big); s.send("small"); s.send(bytes); };
		s.onmessage = e => z.got.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data).join(","));
		s.onclose = e => { z.closed = e.code; };
		return true;
	})()`)
	p.waitJS("three echoes", `z.got.length === 3 || z.closed`)
	if ext := eval[string](p, `z.ext`); ext != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
		t.Errorf("extensions %q", ext)
	}
	if ok := eval[[]bool](p, `z.want.map((w, i) => z.got[i] === w)`); len(ok) != 3 || !ok[0] || !ok[1] || !ok[2] {
		t.Fatalf("echoes equal to what was sent: %v (closed %v)", ok, eval[any](p, `z.closed || null`))
	}
}

// TestCompressionChat: the chat's Hub gives Chromium permessage-deflate,
// and a long message, compressed by Chromium and by the Hub (it is over
// the threshold), reaches the other page.
func TestCompressionChat(t *testing.T) {
	leakcheck.Check(t)
	srv := startServer(t, buildExample(t, "chat"), "-state", "")
	b := newBrowser(t)
	ann := chatPage(t, b, srv, "ann")
	bob := chatPage(t, b, srv, "bob")
	for _, p := range []*tab{ann, bob} {
		if ext := eval[string](p, `chat.extensions`); !strings.HasPrefix(ext, "permessage-deflate") {
			t.Errorf("%s: WebSocket extensions %q, want permessage-deflate", p.name, ext)
		}
	}
	long := strings.TrimSpace(strings.Repeat("compressed and still the same, ", 30))
	ann.say(long)
	bob.waitText("#general", long)
	ann.waitText("#general", long)
}
