package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/ws"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

// suiteReadLimit is the echo's read limit during the conformance suite.
const suiteReadLimit = 100_000

// rfcCase is one case of the RFC 6455 suite: raw bytes written to the
// server, the frames expected back, and how the server must close.
type rfcCase struct {
	name string
	send [][]byte       // written in order, one write each
	want []wstest.Frame // expected frames (op and payload), in order
	code int            // the server's close code; 0: the client closes with 1000 and expects it echoed
	// partial: the case leaves a frame unfinished, so the client does not
	// answer the server's close frame.
	partial bool
}

func frame(f wstest.Frame) []byte { return wstest.Encode(f) }

func masked(op byte, p string) []byte { return frame(wstest.Masked(op, []byte(p))) }

func fragment(fin bool, op byte, p string) []byte {
	return frame(wstest.Frame{Fin: fin, Op: op, Masked: true, Payload: []byte(p)})
}

func closeWith(code uint16, reason string) []byte {
	return frame(wstest.Masked(wstest.OpClose, wstest.ClosePayload(code, reason)))
}

func text(p string) wstest.Frame {
	return wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(p)}
}
func binaryMsg(p string) wstest.Frame {
	return wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: []byte(p)}
}
func pong(p string) wstest.Frame {
	return wstest.Frame{Fin: true, Op: wstest.OpPong, Payload: []byte(p)}
}

func join(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func rfcCases() []rfcCase {
	long := strings.Repeat("x", 65536)
	cases := []rfcCase{
		// Framing and echo.
		{name: "text", send: [][]byte{masked(wstest.OpText, "hello")}, want: []wstest.Frame{text("hello")}},
		{name: "binary", send: [][]byte{masked(wstest.OpBinary, "\x00\xff\x01")}, want: []wstest.Frame{binaryMsg("\x00\xff\x01")}},
		{name: "empty text", send: [][]byte{masked(wstest.OpText, "")}, want: []wstest.Frame{text("")}},
		{name: "length 125", send: [][]byte{masked(wstest.OpText, long[:125])}, want: []wstest.Frame{text(long[:125])}},
		{name: "length 126", send: [][]byte{masked(wstest.OpText, long[:126])}, want: []wstest.Frame{text(long[:126])}},
		{name: "length 65535", send: [][]byte{masked(wstest.OpBinary, long[:65535])}, want: []wstest.Frame{binaryMsg(long[:65535])}},
		{name: "length 65536", send: [][]byte{masked(wstest.OpBinary, long)}, want: []wstest.Frame{binaryMsg(long)}},
		{name: "byte by byte", send: splitBytes(masked(wstest.OpText, "slow")), want: []wstest.Frame{text("slow")}},
		{name: "several in one write", send: [][]byte{join(masked(wstest.OpText, "a"), masked(wstest.OpBinary, "b"), masked(wstest.OpText, "c"))},
			want: []wstest.Frame{text("a"), binaryMsg("b"), text("c")}},

		// Pings and pongs.
		{name: "ping", send: [][]byte{masked(wstest.OpPing, "are you there")}, want: []wstest.Frame{pong("are you there")}},
		{name: "empty ping", send: [][]byte{masked(wstest.OpPing, "")}, want: []wstest.Frame{pong("")}},
		{name: "ping 125 bytes", send: [][]byte{masked(wstest.OpPing, long[:125])}, want: []wstest.Frame{pong(long[:125])}},
		{name: "binary ping", send: [][]byte{masked(wstest.OpPing, "\x00\xff\xfe")}, want: []wstest.Frame{pong("\x00\xff\xfe")}},
		{name: "unsolicited pong ignored", send: [][]byte{masked(wstest.OpPong, "x"), masked(wstest.OpText, "after")}, want: []wstest.Frame{text("after")}},
		{name: "ten pings", send: [][]byte{bytes.Repeat(masked(wstest.OpPing, "p"), 10)},
			want: []wstest.Frame{pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p")}},
		{name: "ping over 125 bytes", send: [][]byte{masked(wstest.OpPing, long[:126])}, code: 1002},
		{name: "close over 125 bytes", send: [][]byte{closeWith(1000, long[:124])}, code: 1002},
		{name: "pong over 125 bytes", send: [][]byte{masked(wstest.OpPong, long[:126])}, code: 1002},

		// Reserved bits and opcodes.
		{name: "rsv1", send: [][]byte{frame(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpText, Masked: true, Payload: []byte("x")})}, code: 1002},
		{name: "rsv2", send: [][]byte{frame(wstest.Frame{Fin: true, Rsv: 0x20, Op: wstest.OpText, Masked: true, Payload: []byte("x")})}, code: 1002},
		{name: "rsv3", send: [][]byte{frame(wstest.Frame{Fin: true, Rsv: 0x10, Op: wstest.OpBinary, Masked: true, Payload: []byte("x")})}, code: 1002},
		{name: "rsv on ping", send: [][]byte{frame(wstest.Frame{Fin: true, Rsv: 0x70, Op: wstest.OpPing, Masked: true})}, code: 1002},
		{name: "rsv after good message", send: [][]byte{join(masked(wstest.OpText, "ok"),
			frame(wstest.Frame{Fin: true, Rsv: 0x20, Op: wstest.OpText, Masked: true, Payload: []byte("bad")}))},
			want: []wstest.Frame{text("ok")}, code: 1002},

		// Fragmentation.
		{name: "two fragments", send: [][]byte{join(fragment(false, wstest.OpText, "hel"), fragment(true, wstest.OpContinuation, "lo"))},
			want: []wstest.Frame{text("hello")}},
		{name: "fragments in separate writes", send: [][]byte{fragment(false, wstest.OpBinary, "a"), fragment(false, wstest.OpContinuation, "b"), fragment(true, wstest.OpContinuation, "c")},
			want: []wstest.Frame{binaryMsg("abc")}},
		{name: "empty fragments", send: [][]byte{join(fragment(false, wstest.OpText, ""), fragment(false, wstest.OpContinuation, ""), fragment(true, wstest.OpContinuation, ""))},
			want: []wstest.Frame{text("")}},
		{name: "ping between fragments", send: [][]byte{join(fragment(false, wstest.OpText, "frag"), masked(wstest.OpPing, "mid"), fragment(true, wstest.OpContinuation, "ment"))},
			want: []wstest.Frame{pong("mid"), text("fragment")}},
		{name: "pong between fragments", send: [][]byte{join(fragment(false, wstest.OpText, "a"), masked(wstest.OpPong, "x"), fragment(true, wstest.OpContinuation, "b"))},
			want: []wstest.Frame{text("ab")}},
		{name: "close between fragments", send: [][]byte{join(fragment(false, wstest.OpText, "a"), closeWith(1000, ""))},
			code: 1000},
		{name: "continuation without start", send: [][]byte{fragment(true, wstest.OpContinuation, "x")}, code: 1002},
		{name: "unfinished continuation without start", send: [][]byte{fragment(false, wstest.OpContinuation, "x")}, code: 1002},
		{name: "text inside fragmented message", send: [][]byte{join(fragment(false, wstest.OpText, "a"), fragment(true, wstest.OpText, "b"))}, code: 1002},
		{name: "binary inside fragmented message", send: [][]byte{join(fragment(false, wstest.OpBinary, "a"), fragment(false, wstest.OpBinary, "b"))}, code: 1002},
		{name: "fragmented ping", send: [][]byte{join(fragment(false, wstest.OpPing, "a"), fragment(true, wstest.OpContinuation, "b"))}, code: 1002},
		{name: "fragmented close", send: [][]byte{fragment(false, wstest.OpClose, "\x03\xe8")}, code: 1002},

		// Unmasked client frames.
		{name: "unmasked text", send: [][]byte{frame(wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("x")})}, code: 1002},
		{name: "unmasked ping", send: [][]byte{frame(wstest.Frame{Fin: true, Op: wstest.OpPing})}, code: 1002},

		// UTF-8.
		{name: "valid multibyte", send: [][]byte{masked(wstest.OpText, "κόσμε €𝄞")}, want: []wstest.Frame{text("κόσμε €𝄞")}},
		{name: "rune split across fragments", send: [][]byte{join(fragment(false, wstest.OpText, "\xe2\x82"), fragment(true, wstest.OpContinuation, "\xac"))},
			want: []wstest.Frame{text("€")}},
		{name: "rune split byte by byte", send: [][]byte{join(fragment(false, wstest.OpText, "\xf0"), fragment(false, wstest.OpContinuation, "\x9d"),
			fragment(false, wstest.OpContinuation, "\x84"), fragment(true, wstest.OpContinuation, "\x9e"))}, want: []wstest.Frame{text("𝄞")}},
		{name: "invalid byte", send: [][]byte{masked(wstest.OpText, "ab\xffcd")}, code: 1007},
		{name: "overlong encoding", send: [][]byte{masked(wstest.OpText, "\xc0\xaf")}, code: 1007},
		{name: "surrogate", send: [][]byte{masked(wstest.OpText, "\xed\xa0\x80")}, code: 1007},
		{name: "beyond U+10FFFF", send: [][]byte{masked(wstest.OpText, "\xf4\x90\x80\x80")}, code: 1007},
		{name: "truncated at end", send: [][]byte{masked(wstest.OpText, "ok\xe2\x82")}, code: 1007},
		{name: "invalid in second fragment", send: [][]byte{join(fragment(false, wstest.OpText, "good"), fragment(true, wstest.OpContinuation, "\xff"))}, code: 1007},
		// Fail fast: the first fragment is invalid and the message never
		// ends; the server must not wait for the rest.
		{name: "invalid first fragment, never finished", send: [][]byte{fragment(false, wstest.OpText, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")}, code: 1007},
		{name: "invalid prefix split across fragments", send: [][]byte{join(fragment(false, wstest.OpText, "\xed"), fragment(false, wstest.OpContinuation, "\xa0"))}, code: 1007},
		{name: "binary is not checked", send: [][]byte{masked(wstest.OpBinary, "\xff\xfe")}, want: []wstest.Frame{binaryMsg("\xff\xfe")}},

		// Closing handshake.
		{name: "close 1000", send: [][]byte{closeWith(1000, "")}, code: 1000},
		{name: "close with reason", send: [][]byte{closeWith(1001, "bye now")}, code: 1001},
		{name: "close without code", send: [][]byte{masked(wstest.OpClose, "")}, code: 1000},
		{name: "close with one byte", send: [][]byte{masked(wstest.OpClose, "\x03")}, code: 1002},
		{name: "close reason not UTF-8", send: [][]byte{closeWith(1000, "\xff\xfe")}, code: 1002},
		{name: "no echo after close", send: [][]byte{join(closeWith(1000, ""), masked(wstest.OpText, "late"))}, code: 1000},
		{name: "no pong after close", send: [][]byte{join(closeWith(1000, ""), masked(wstest.OpPing, "late"))}, code: 1000},
		{name: "echo before close", send: [][]byte{join(masked(wstest.OpText, "first"), closeWith(1000, ""))}, want: []wstest.Frame{text("first")}, code: 1000},

		// Read limit.
		{name: "message at the limit", send: [][]byte{masked(wstest.OpBinary, strings.Repeat("y", suiteReadLimit))}, want: []wstest.Frame{binaryMsg(strings.Repeat("y", suiteReadLimit))}},
		{name: "frame over the limit, payload never sent", send: [][]byte{wstest.Header(true, wstest.OpBinary, suiteReadLimit+1)}, code: 1009, partial: true},
		{name: "huge frame header", send: [][]byte{wstest.Header(true, wstest.OpText, 1<<62)}, code: 1009, partial: true},
		{name: "fragments over the limit", send: [][]byte{fragment(false, wstest.OpBinary, strings.Repeat("z", suiteReadLimit/2+1)),
			wstest.Header(false, wstest.OpContinuation, suiteReadLimit/2+1)}, code: 1009, partial: true},
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		cases = append(cases, rfcCase{name: "reserved opcode " + string("0123456789abcdef"[op]), send: [][]byte{masked(op, "")}, code: 1002})
	}
	for _, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, rfcCase{name: fmt.Sprint("valid close code ", code), send: [][]byte{closeWith(code, "")}, code: int(code)})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, rfcCase{name: fmt.Sprint("invalid close code ", code), send: [][]byte{closeWith(code, "")}, code: 1002})
	}
	return cases
}

func splitBytes(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// TestRFC6455 runs the conformance suite against the echo handler over
// real TCP connections.
func TestRFC6455(t *testing.T) {
	leakcheck.Check(t)
	srv := httptest.NewServer(Handler(&ws.AcceptOptions{ReadLimit: suiteReadLimit}))
	t.Cleanup(srv.Close)
	for _, tc := range rfcCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, srv.URL, tc)
		})
	}
}

func runCase(t *testing.T, url string, tc rfcCase) {
	c, resp, err := wstest.Dial(url, nil)
	if err != nil || c == nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	for _, b := range tc.send {
		if _, err := c.Write(b); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	for i, w := range tc.want {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v, want %s", i, err, describe(w))
		}
		if f.Op != w.Op || !f.Fin || f.Masked || f.Rsv != 0 || !bytes.Equal(f.Payload, w.Payload) {
			t.Fatalf("frame %d: got %s, want %s", i, describe(f), describe(w))
		}
	}
	want := tc.code
	if want == 0 {
		if err := c.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(1000, ""))); err != nil {
			t.Fatal(err)
		}
		want = 1000
	}
	f, err := c.ReadFrame()
	if err != nil {
		t.Fatalf("waiting for close %d: %v", want, err)
	}
	if f.Op != wstest.OpClose {
		t.Fatalf("got %s, want close %d", describe(f), want)
	}
	got := wstest.ParseClose(f.Payload)
	if got.Code != want {
		t.Fatalf("close code %d (%q), want %d", got.Code, got.Reason, want)
	}
	if want != 1000 && want != 1005 && tc.code >= 1002 && tc.code <= 1011 && tc.code != 1003 && got.Reason == "" && !isEcho(tc) {
		t.Errorf("close %d has no reason", got.Code)
	}
	if tc.code != 0 && !tc.partial && !isEcho(tc) {
		// Answer the server's close as a client should.
		c.WriteFrames(wstest.Masked(wstest.OpClose, f.Payload[:2]))
	}
	if err := c.ExpectEOF(); err != nil {
		t.Fatalf("after close: %v", err)
	}
}

// isEcho reports whether the case's close is the client's own, echoed.
func isEcho(tc rfcCase) bool {
	return strings.HasPrefix(tc.name, "valid close code") || strings.HasPrefix(tc.name, "close 1000") ||
		strings.HasPrefix(tc.name, "close with reason") || strings.HasPrefix(tc.name, "close without code") ||
		strings.HasPrefix(tc.name, "no ") || strings.HasPrefix(tc.name, "echo before close") || strings.HasPrefix(tc.name, "close between")
}

func describe(f wstest.Frame) string {
	p := f.Payload
	suffix := ""
	if len(p) > 20 {
		p, suffix = p[:20], "..."
	}
	return fmt.Sprintf("op %d fin %t %s%s (%d bytes)", f.Op, f.Fin, p, suffix, len(f.Payload))
}
