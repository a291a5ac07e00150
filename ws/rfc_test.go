package ws

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

// rfcCase is one MUST of RFC 6455 section 5 or RFC 7692 sections 6 and 7
// for a server reading a client's frames: what the client sends, the
// frames the server must answer first (the echo of a message, a pong), and
// the close code it must end with.
type rfcCase struct {
	clause  string // "section: what -> outcome"
	deflate bool   // the client offers permessage-deflate
	send    []byte
	want    []wstest.Frame
	code    int
	closes  bool // the client starts the closing handshake with a valid close
}

// rawFrame returns a masked frame (zero key: the payload goes as it is)
// with first byte b0 and the length field ext: the 7-bit length and its
// extension exactly as given, whatever the payload.
func rawFrame(b0 byte, ext []byte, payload string) []byte {
	b := []byte{b0, 0x80 | ext[0]}
	b = append(b, ext[1:]...)
	b = append(b, 0, 0, 0, 0)
	return append(b, payload...)
}

func len16(n uint16) []byte { return binary.BigEndian.AppendUint16([]byte{126}, n) }
func len64(n uint64) []byte { return binary.BigEndian.AppendUint64([]byte{127}, n) }

func frameBytes(fs ...wstest.Frame) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, wstest.Encode(f)...)
	}
	return b
}

func dataFrame(fin bool, rsv, op byte, p []byte) wstest.Frame {
	return wstest.Frame{Fin: fin, Rsv: rsv, Op: op, Masked: true, Payload: p}
}

func closing(code uint16, reason string) wstest.Frame {
	return wstest.Masked(wstest.OpClose, wstest.ClosePayload(code, reason))
}

func serverText(p string) wstest.Frame {
	return wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(p)}
}

// deflateFinal compresses p into one final DEFLATE block (BFINAL set), as
// RFC 7692 section 7.2.3.3 allows a sender to.
func deflateFinal(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Close()
	return b.Bytes()
}

func rfcMustCases(t testing.TB) []rfcCase {
	long := strings.Repeat("L", 200)
	hello := deflateBytes(t, []byte("hello hello hello"))
	return []rfcCase{
		// RFC 6455, section 5.1: masking.
		{clause: "5.1: unmasked client frame -> 1002", send: frameBytes(wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("x")}), code: 1002},
		{clause: "5.1: unmasked client ping -> 1002", send: frameBytes(wstest.Frame{Fin: true, Op: wstest.OpPing}), code: 1002},
		{clause: "5.3: payload unmasked with the frame's key", send: frameBytes(wstest.Masked(wstest.OpText, []byte("masked"))), want: []wstest.Frame{serverText("masked")}},

		// Section 5.2: the base framing.
		{clause: "5.2: RSV1 set without extension -> 1002", send: frameBytes(dataFrame(true, 0x40, wstest.OpText, []byte("x"))), code: 1002},
		{clause: "5.2: RSV2 set without extension -> 1002", send: frameBytes(dataFrame(true, 0x20, wstest.OpText, []byte("x"))), code: 1002},
		{clause: "5.2: RSV3 set without extension -> 1002", send: frameBytes(dataFrame(true, 0x10, wstest.OpBinary, []byte("x"))), code: 1002},
		{clause: "5.2: RSV2 set with permessage-deflate -> 1002", deflate: true, send: frameBytes(dataFrame(true, 0x20, wstest.OpText, []byte("x"))), code: 1002},
		{clause: "5.2: reserved non-control opcode 0x3 -> 1002", send: frameBytes(wstest.Masked(3, nil)), code: 1002},
		{clause: "5.2: reserved control opcode 0xB -> 1002", send: frameBytes(wstest.Masked(0xb, nil)), code: 1002},
		{clause: "5.2: 64-bit length with its most significant bit set -> 1002", send: rawFrame(0x82, len64(1<<63|5), "hello"), code: 1002},
		{clause: "5.2: 16-bit length for 5 bytes (not minimal) -> 1002", send: rawFrame(0x81, len16(5), "hello"), code: 1002},
		{clause: "5.2: 16-bit length for 125 bytes (not minimal) -> 1002", send: rawFrame(0x81, len16(125), long[:125]), code: 1002},
		{clause: "5.2: 64-bit length for 5 bytes (not minimal) -> 1002", send: rawFrame(0x81, len64(5), "hello"), code: 1002},
		{clause: "5.2: 64-bit length for 200 bytes (not minimal) -> 1002", send: rawFrame(0x81, len64(200), long), code: 1002},
		{clause: "5.2: 64-bit length for 65535 bytes (not minimal), payload never sent -> 1002", send: rawFrame(0x82, len64(65535), ""), code: 1002},
		{clause: "5.2: 16-bit length for a ping (not minimal) -> 1002", send: rawFrame(0x89, len16(3), "abc"), code: 1002},
		{clause: "5.2: minimal 16-bit length for 126 bytes", send: rawFrame(0x81, len16(126), long[:126]), want: []wstest.Frame{serverText(long[:126])}},

		// Section 5.4: fragmentation.
		{clause: "5.4: control frames MUST NOT be fragmented: unfinished ping -> 1002", send: frameBytes(dataFrame(false, 0, wstest.OpPing, []byte("a"))), code: 1002},
		{clause: "5.4: unfinished close -> 1002", send: frameBytes(dataFrame(false, 0, wstest.OpClose, wstest.ClosePayload(1000, ""))), code: 1002},
		{clause: "5.4: a new message inside a fragmented one -> 1002", send: frameBytes(dataFrame(false, 0, wstest.OpText, []byte("a")), dataFrame(true, 0, wstest.OpText, []byte("b"))), code: 1002},
		{clause: "5.4: continuation without a message -> 1002", send: frameBytes(dataFrame(true, 0, wstest.OpContinuation, []byte("x"))), code: 1002},
		{clause: "5.4: control frames between fragments are handled", send: frameBytes(dataFrame(false, 0, wstest.OpText, []byte("frag")),
			wstest.Masked(wstest.OpPing, []byte("mid")), dataFrame(true, 0, wstest.OpContinuation, []byte("ment"))),
			want: []wstest.Frame{{Fin: true, Op: wstest.OpPong, Payload: []byte("mid")}, serverText("fragment")}},

		// Section 5.5: control frames.
		{clause: "5.5: ping payload over 125 bytes -> 1002", send: frameBytes(wstest.Masked(wstest.OpPing, []byte(long[:126]))), code: 1002},
		{clause: "5.5: pong payload over 125 bytes -> 1002", send: frameBytes(wstest.Masked(wstest.OpPong, []byte(long[:126]))), code: 1002},
		{clause: "5.5: close payload over 125 bytes -> 1002", send: frameBytes(closing(1000, long[:124])), code: 1002},
		{clause: "5.5.1: close body of one byte -> 1002", send: frameBytes(wstest.Masked(wstest.OpClose, []byte{3})), code: 1002},
		{clause: "5.5.1, 7.4: close code 1005 on the wire -> 1002", send: frameBytes(closing(1005, "")), code: 1002},
		{clause: "5.5.1, 7.4: close code 999 -> 1002", send: frameBytes(closing(999, "")), code: 1002},
		{clause: "5.5.1: close reason not UTF-8 -> 1002", send: frameBytes(closing(1000, "\xff")), code: 1002},
		{clause: "5.5.1: a close is answered with a close", send: frameBytes(closing(4000, "bye")), code: 4000, closes: true},
		{clause: "5.5.1: no data after a close", send: frameBytes(closing(1000, ""), wstest.Masked(wstest.OpText, []byte("late"))), code: 1000, closes: true},
		{clause: "5.5.2: a ping is answered with a pong of the same data", send: frameBytes(wstest.Masked(wstest.OpPing, []byte("\x00data\xff"))),
			want: []wstest.Frame{{Fin: true, Op: wstest.OpPong, Payload: []byte("\x00data\xff")}}},
		{clause: "5.5.3: an unsolicited pong is ignored", send: frameBytes(wstest.Masked(wstest.OpPong, []byte("x")), wstest.Masked(wstest.OpText, []byte("after"))),
			want: []wstest.Frame{serverText("after")}},

		// Sections 5.6 and 8.1: text is UTF-8.
		{clause: "5.6, 8.1: text not UTF-8 -> 1007", send: frameBytes(wstest.Masked(wstest.OpText, []byte("a\xffb"))), code: 1007},
		{clause: "5.6, 8.1: text ending inside a UTF-8 sequence -> 1007", send: frameBytes(wstest.Masked(wstest.OpText, []byte("ok\xe2\x82"))), code: 1007},
		{clause: "5.6: a rune split across fragments", send: frameBytes(dataFrame(false, 0, wstest.OpText, []byte("\xe2\x82")), dataFrame(true, 0, wstest.OpContinuation, []byte("\xac"))),
			want: []wstest.Frame{serverText("€")}},

		// RFC 7692, section 6: RSV1 is the "Per-Message Compressed" bit.
		{clause: "7692 6: RSV1 without permessage-deflate -> 1002", send: frameBytes(dataFrame(true, 0x40, wstest.OpText, hello)), code: 1002},
		{clause: "7692 6: RSV1 on a non-first fragment -> 1002", deflate: true, send: frameBytes(dataFrame(false, 0x40, wstest.OpText, hello[:3]),
			dataFrame(true, 0x40, wstest.OpContinuation, hello[3:])), code: 1002},
		{clause: "7692 6: RSV1 on a continuation of an uncompressed message -> 1002", deflate: true, send: frameBytes(dataFrame(false, 0, wstest.OpText, []byte("a")),
			dataFrame(true, 0x40, wstest.OpContinuation, []byte("b"))), code: 1002},
		{clause: "7692 6: RSV1 on a ping -> 1002", deflate: true, send: frameBytes(dataFrame(true, 0x40, wstest.OpPing, nil)), code: 1002},
		{clause: "7692 6: RSV1 on a pong -> 1002", deflate: true, send: frameBytes(dataFrame(true, 0x40, wstest.OpPong, nil)), code: 1002},
		{clause: "7692 6: RSV1 on a close -> 1002", deflate: true, send: frameBytes(dataFrame(true, 0x40, wstest.OpClose, wstest.ClosePayload(1000, ""))), code: 1002},
		{clause: "7692 6: RSV1 on a ping between compressed fragments -> 1002", deflate: true, send: frameBytes(dataFrame(false, 0x40, wstest.OpText, hello[:3]),
			dataFrame(true, 0x40, wstest.OpPing, nil)), code: 1002},
		{clause: "7692 6.2: a compressed message fragmented, RSV1 on its first frame", deflate: true, send: frameBytes(dataFrame(false, 0x40, wstest.OpText, hello[:3]),
			wstest.Masked(wstest.OpPing, []byte("p")), dataFrame(true, 0, wstest.OpContinuation, hello[3:])),
			want: []wstest.Frame{{Fin: true, Op: wstest.OpPong, Payload: []byte("p")}, serverText("hello hello hello")}},
		{clause: "7692 6: an uncompressed message on a compressed connection", deflate: true, send: frameBytes(wstest.Masked(wstest.OpText, []byte("plain"))),
			want: []wstest.Frame{serverText("plain")}},
		{clause: "7692 7.2.3.3: a message in a final DEFLATE block", deflate: true, send: frameBytes(dataFrame(true, 0x40, wstest.OpText, deflateFinal(t, []byte("final block")))),
			want: []wstest.Frame{serverText("final block")}},
		{clause: "7692 7.2.3.3: data after a final DEFLATE block -> 1007", deflate: true,
			send: frameBytes(dataFrame(true, 0x40, wstest.OpText, append(deflateFinal(t, []byte("final")), hello...))), code: 1007},
		{clause: "7692 7.2.2: not DEFLATE data -> 1007", deflate: true, send: frameBytes(dataFrame(true, 0x40, wstest.OpBinary, []byte{0xff, 0xff, 0xff})), code: 1007},
		{clause: "7692 7.2.2: DEFLATE data cut short -> 1007", deflate: true, send: frameBytes(dataFrame(true, 0x40, wstest.OpBinary, hello[:4])), code: 1007},
		{clause: "7692 6, 8.1: compressed text not UTF-8 once inflated -> 1007", deflate: true, send: frameBytes(dataFrame(true, 0x40, wstest.OpText, deflateBytes(t, []byte("ab\xff")))), code: 1007},
	}
}

// TestRFCMusts runs every MUST of RFC 6455 section 5 and RFC 7692 sections
// 6 and 7 for frames a client sends, over TCP on 127.0.0.1, against an
// Accept echo and a Hub whose OnMessage echoes. A case that expects no
// close code ends with the client's close, which the server must answer.
func TestRFCMusts(t *testing.T) {
	leakcheck.Check(t)
	echoSrv := serve(t, nil, echo)
	_, hubSrv := serveHub(t, HubOptions{OnMessage: func(c *Member, typ MessageType, data []byte) { c.Send(typ, data) }})
	for _, tc := range rfcMustCases(t) {
		for _, target := range []struct{ name, url string }{{"Accept", echoSrv.URL}, {"Hub", hubSrv.URL + "?topic=t"}} {
			t.Run(target.name+"/"+tc.clause, func(t *testing.T) {
				t.Parallel()
				var h http.Header
				if tc.deflate {
					h = offerDeflate
				}
				c := dial(t, target.url, h)
				send, code, closes := tc.send, tc.code, tc.closes
				if code == 0 {
					send, code, closes = append(bytes.Clone(send), frameBytes(closing(1000, ""))...), 1000, true
				}
				if _, err := c.Write(send); err != nil {
					t.Fatal(err)
				}
				for i, w := range tc.want {
					f, err := c.ReadFrame()
					if err != nil {
						t.Fatalf("frame %d: %v, want %s", i, err, describeFrame(w))
					}
					if f.Op != w.Op || f.Fin != w.Fin || f.Rsv != 0 || f.Masked || !bytes.Equal(f.Payload, w.Payload) {
						t.Fatalf("frame %d: %s, want %s", i, describeFrame(f), describeFrame(w))
					}
				}
				if cf := readClose(t, c); cf.Code != code {
					t.Fatalf("close %d %q, want %d", cf.Code, cf.Reason, code)
				}
				// 7.1.1: once both sent a close frame, the server closes
				// the TCP connection.
				if !closes {
					if err := c.WriteFrames(closing(uint16(code), "")); err != nil {
						t.Fatal(err)
					}
				}
				if err := c.ExpectEOF(); err != nil {
					t.Fatalf("after the closing handshake: %v, want the server to close the connection", err)
				}
			})
		}
	}
}

func describeFrame(f wstest.Frame) string {
	p := f.Payload
	if len(p) > 40 {
		p = p[:40]
	}
	return fmt.Sprintf("{fin %v rsv %#x op %d masked %v payload %q (%d bytes)}", f.Fin, f.Rsv, f.Op, f.Masked, p, len(f.Payload))
}

// TestRFCMustsClient: a client made with Dial holds a server to the length
// rules of RFC 6455 section 5.2 too, failing the connection with 1002.
func TestRFCMustsClient(t *testing.T) {
	leakcheck.Check(t)
	unmaskedRaw := func(b0 byte, ext []byte, payload string) []byte {
		return append(append([]byte{b0, ext[0]}, ext[1:]...), payload...)
	}
	for _, tc := range []struct {
		clause string
		send   []byte
	}{
		{"5.2: 64-bit length with its most significant bit set -> 1002", unmaskedRaw(0x82, len64(1<<63|5), "hello")},
		{"5.2: 16-bit length for 5 bytes (not minimal) -> 1002", unmaskedRaw(0x81, len16(5), "hello")},
		{"5.2: 64-bit length for 200 bytes (not minimal) -> 1002", unmaskedRaw(0x81, len64(200), strings.Repeat("L", 200))},
	} {
		t.Run(tc.clause, func(t *testing.T) {
			srv := rawServer(t, func(c *wstest.Conn) {
				c.Write(tc.send)
				for {
					if _, err := c.ReadFrame(); err != nil {
						return
					}
				}
			})
			ctx := dialCtx(t)
			c, err := Dial(ctx, srv.URL, &DialOptions{PingInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			_, p, err := c.Read(ctx)
			if closeStatus(err) != statusProtocolError {
				t.Fatalf("Read: %q, %v; want a close with %d", p, err, statusProtocolError)
			}
		})
	}
}

// TestCloseHandshakeReadsBounded: once the server has sent its close
// frame, it reads at most lingerDiscard of what the peer sends before the
// peer's close, in all, then ends the connection: a peer that went on
// sending frames of 32 KiB without closing was read until the close timer
// (5 s), megabytes on loopback.
func TestCloseHandshakeReadsBounded(t *testing.T) {
	leakcheck.Check(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := Accept(w, r, nil); err == nil {
			c.Close(StatusNormalClosure, "bye")
		}
	}))
	ln := wstest.Watch(srv.Listener)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	c := dial(t, srv.URL, nil)
	if cf := readClose(t, c); cf.Code != 1000 {
		t.Fatalf("close %d, want 1000", cf.Code)
	}
	const sent = 4 << 20
	frame := frameBytes(wstest.Masked(wstest.OpBinary, make([]byte, 32<<10)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; n < sent; n += len(frame) {
			if _, err := c.Write(frame); err != nil {
				return
			}
		}
	}()
	io.Copy(io.Discard, c.R) // until the server closes the connection
	c.Close()
	<-done
	read, _ := ln.State(c.LocalAddr())
	t.Logf("the server read %d bytes of %d sent after its close", read, sent)
	if bound := int64(4*lingerDiscard + 4096); read > bound {
		t.Fatalf("the server read %d bytes after its close frame, want at most %d", read, bound)
	}
}
