package ws

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

// offerDeflate is the offer browsers send.
var offerDeflate = http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate; client_max_window_bits"}}

// deflateBytes compresses p as a permessage-deflate sender does, the tail
// taken off.
func deflateBytes(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(p)
	w.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, deflateTail) {
		t.Fatalf("flushed stream %x has no tail", out)
	}
	return out[:len(out)-4]
}

// inflateBytes decompresses a permessage-deflate message.
func inflateBytes(t testing.TB, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(inflateTail)))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate %x: %v", p, err)
	}
	return out
}

// readData reads frames until a data message and returns its opcode,
// whether its first frame had RSV1, and its payload, inflated when it had.
func readData(t testing.TB, c *wstest.Conn) (op byte, compressed bool, data []byte) {
	t.Helper()
	for {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f.Op {
		case wstest.OpPing, wstest.OpPong:
			continue
		case wstest.OpClose:
			t.Fatalf("close frame %v, want a message", wstest.ParseClose(f.Payload))
		case wstest.OpText, wstest.OpBinary:
			op, compressed = f.Op, f.Rsv == rsvCompressed
		}
		data = append(data, f.Payload...)
		if f.Fin {
			break
		}
	}
	if compressed {
		data = inflateBytes(t, data)
	}
	return op, compressed, data
}

// TestCompressionNegotiation: the server accepts the first acceptable
// permessage-deflate offer, with no context takeover on either side, skips
// offers it must decline or cannot parse and other extensions, and
// answers no extension to a client that offered none.
func TestCompressionNegotiation(t *testing.T) {
	leakcheck.Check(t)
	const plain = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	for _, tc := range []struct {
		name    string
		offers  []string
		disable bool
		want    string
	}{
		{"none offered", nil, false, ""},
		{"browser", []string{"permessage-deflate; client_max_window_bits"}, false, plain},
		{"bare", []string{"permessage-deflate"}, false, plain},
		{"all parameters", []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=10"}, false, plain + "; server_max_window_bits=15"},
		{"quoted value", []string{`permessage-deflate; client_max_window_bits="12"`}, false, plain},
		{"case", []string{"Permessage-Deflate; Client_Max_Window_Bits"}, false, plain},
		{"other extension only", []string{"x-webkit-deflate-frame"}, false, ""},
		{"small server window", []string{"permessage-deflate; server_max_window_bits=10"}, false, plain + "; server_max_window_bits=10"},
		{"several offers, first declined", []string{"x-foo, permessage-deflate; server_max_window_bits=7, permessage-deflate"}, false, plain},
		{"offers in two headers", []string{"permessage-deflate; unknown_param", "permessage-deflate; client_no_context_takeover"}, false, plain},
		{"unknown parameter", []string{"permessage-deflate; x=1"}, false, ""},
		{"repeated parameter", []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, false, ""},
		{"bad window bits", []string{"permessage-deflate; client_max_window_bits=16, permessage-deflate; server_max_window_bits=015"}, false, ""},
		{"value on a flag", []string{"permessage-deflate; client_no_context_takeover=1"}, false, ""},
		{"malformed", []string{"permessage-deflate;; ;=, @@@"}, false, ""},
		{"turned off", []string{"permessage-deflate"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan bool, 1)
			srv := serve(t, &AcceptOptions{DisableCompression: tc.disable}, func(c *Conn) {
				got <- c.compress
				c.CloseNow()
			})
			h := http.Header{}
			for _, o := range tc.offers {
				h.Add("Sec-WebSocket-Extensions", o)
			}
			c := dial(t, srv.URL, h)
			if ext := c.Response.Header.Values("Sec-WebSocket-Extensions"); strings.Join(ext, ", ") != tc.want {
				t.Errorf("Sec-WebSocket-Extensions %q, want %q", ext, tc.want)
			}
			if g := <-got; g != (tc.want != "") {
				t.Errorf("compression negotiated: %v, want %v", g, tc.want != "")
			}
		})
	}
}

// TestCompressionHeaderOption: the headers set on the ResponseWriter
// before Accept go with the 101 answer, but an extension set there is
// never answered, since the client did not negotiate it.
func TestCompressionHeaderOption(t *testing.T) {
	leakcheck.Check(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Sec-Websocket-Extensions", "permessage-deflate")
		w.Header().Set("Set-Cookie", "session=1")
		if c, err := Accept(w, r, nil); err == nil {
			c.CloseNow()
		}
	}))
	defer srv.Close()
	c := dial(t, srv.URL, nil)
	if ext := c.Response.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Errorf("Sec-WebSocket-Extensions %q answered to a client that offered none", ext)
	}
	if got := c.Response.Header.Get("Set-Cookie"); got != "session=1" {
		t.Errorf("Set-Cookie %q, want the one set before Accept", got)
	}
}

// TestCompressedEcho: a compressed message, whole or fragmented with a
// ping between its fragments, is read inflated; the echo of a message
// over the threshold is sent compressed, one under it as it is.
func TestCompressedEcho(t *testing.T) {
	leakcheck.Check(t)
	srv := serve(t, nil, echo)
	c := dial(t, srv.URL, offerDeflate)
	big := []byte(strings.Repeat(`{"symbol":"ACME","price":101.25,"volume":1200},`, 40))

	z := deflateBytes(t, big)
	if err := c.WriteFrames(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpText, Masked: true, Payload: z}); err != nil {
		t.Fatal(err)
	}
	op, compressed, got := readData(t, c)
	if op != wstest.OpText || !compressed || !bytes.Equal(got, big) {
		t.Fatalf("echo: op %d, compressed %v, %d bytes; want text, compressed, %d bytes", op, compressed, len(got), len(big))
	}

	third := len(z) / 3
	if err := c.WriteFrames(
		wstest.Frame{Rsv: 0x40, Op: wstest.OpBinary, Masked: true, Payload: z[:third]},
		wstest.Masked(wstest.OpPing, []byte("p")),
		wstest.Frame{Op: wstest.OpContinuation, Masked: true, Payload: z[third : 2*third]},
		wstest.Frame{Fin: true, Op: wstest.OpContinuation, Masked: true, Payload: z[2*third:]},
	); err != nil {
		t.Fatal(err)
	}
	op, compressed, got = readData(t, c)
	if op != wstest.OpBinary || !compressed || !bytes.Equal(got, big) {
		t.Fatalf("fragmented echo: op %d, compressed %v, %d bytes", op, compressed, len(got))
	}

	small := []byte("short")
	if err := c.WriteFrames(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpText, Masked: true, Payload: deflateBytes(t, small)}); err != nil {
		t.Fatal(err)
	}
	_, compressed, got = readData(t, c)
	if compressed || !bytes.Equal(got, small) {
		t.Fatalf("small echo: compressed %v, %q; want uncompressed %q", compressed, got, small)
	}
	send(t, c, wstest.OpText, "uncompressed from the client")
	if _, compressed, got = readData(t, c); compressed || string(got) != "uncompressed from the client" {
		t.Fatalf("uncompressed echo: compressed %v, %q", compressed, got)
	}
}

// TestCompressionViolations: RSV1 anywhere but on the first frame of a
// data message of a connection that negotiated compression, a message
// that inflates past the read limit, bad DEFLATE data and text that is not
// UTF-8 once inflated each fail the connection with their close code.
func TestCompressionViolations(t *testing.T) {
	freshInflateCredit(t)
	leakcheck.Check(t)
	bomb := deflateBytes(t, make([]byte, 8<<20)) // 8 MiB of zeros in a few KiB
	badUTF8 := deflateBytes(t, []byte(strings.Repeat("x", 600)+"\xff"))
	for _, tc := range []struct {
		name   string
		offer  bool
		frames []wstest.Frame
		code   int
	}{
		{"RSV1 without negotiation", false, []wstest.Frame{{Fin: true, Rsv: 0x40, Op: wstest.OpText, Masked: true, Payload: deflateBytes(t, []byte("hi"))}}, 1002},
		{"RSV1 on a continuation", true, []wstest.Frame{
			{Rsv: 0x40, Op: wstest.OpText, Masked: true, Payload: deflateBytes(t, []byte("hi"))},
			{Fin: true, Rsv: 0x40, Op: wstest.OpContinuation, Masked: true},
		}, 1002},
		{"RSV1 on a ping", true, []wstest.Frame{{Fin: true, Rsv: 0x40, Op: wstest.OpPing, Masked: true}}, 1002},
		{"RSV1 on a close", true, []wstest.Frame{{Fin: true, Rsv: 0x40, Op: wstest.OpClose, Masked: true, Payload: wstest.ClosePayload(1000, "")}}, 1002},
		{"RSV2", true, []wstest.Frame{{Fin: true, Rsv: 0x20, Op: wstest.OpText, Masked: true}}, 1002},
		{"bomb", true, []wstest.Frame{{Fin: true, Rsv: 0x40, Op: wstest.OpBinary, Masked: true, Payload: bomb}}, 1009},
		{"not DEFLATE", true, []wstest.Frame{{Fin: true, Rsv: 0x40, Op: wstest.OpBinary, Masked: true, Payload: []byte{0xff, 0xff, 0xff}}}, 1007},
		{"invalid UTF-8 once inflated", true, []wstest.Frame{{Fin: true, Rsv: 0x40, Op: wstest.OpText, Masked: true, Payload: badUTF8}}, 1007},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, nil, echo)
			var h http.Header
			if tc.offer {
				h = offerDeflate
			}
			c := dial(t, srv.URL, h)
			if err := c.WriteFrames(tc.frames...); err != nil {
				t.Fatal(err)
			}
			if cf := readClose(t, c); cf.Code != tc.code {
				t.Fatalf("close %d %q, want %d", cf.Code, cf.Reason, tc.code)
			}
		})
	}
}

// TestInflateLimit: a compression bomb stops inflating one byte past the
// read limit.
func TestInflateLimit(t *testing.T) {
	bomb := deflateBytes(t, make([]byte, 1<<20))
	out, err := inflate(nil, bomb, 1000)
	if err != errInflatedTooBig || out != nil {
		t.Fatalf("inflate: %d bytes, %v; want errInflatedTooBig", len(out), err)
	}
	out, err = inflate(nil, bomb, 1<<20)
	if err != nil || len(out) != 1<<20 {
		t.Fatalf("inflate at the limit: %d bytes, %v", len(out), err)
	}
}

// TestHubCompressedOnce: a broadcast is compressed once and the same
// compressed frame reaches every client that negotiated compression, while
// a client that did not gets the uncompressed frame; a message under the
// threshold is compressed for no one.
func TestHubCompressedOnce(t *testing.T) {
	leakcheck.Check(t)
	h, srv := serveHub(t, HubOptions{})
	var zs []*wstest.Conn
	for range 3 {
		zs = append(zs, dial(t, srv.URL+"?topic=prices", offerDeflate))
	}
	plain := dial(t, srv.URL+"?topic=prices", nil)
	// Each client is subscribed once its handshake is answered.

	data := []byte(strings.Repeat(`{"symbol":"ACME","bid":101.25,"ask":101.5}`, 30))
	before := framesCompressed.Load()
	if _, err := h.Publish("prices", MessageText, data); err != nil {
		t.Fatal(err)
	}
	var wire []byte
	for i, c := range zs {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Rsv != rsvCompressed {
			t.Fatalf("client %d: frame not compressed", i)
		}
		if wire == nil {
			wire = f.Payload
		} else if !bytes.Equal(wire, f.Payload) {
			t.Fatalf("client %d got other compressed bytes", i)
		}
		if d := envData(t, f.Op, inflateBytes(t, f.Payload)); d != string(data) {
			t.Fatalf("client %d: data %q", i, d)
		}
	}
	if n := framesCompressed.Load() - before; n != 1 {
		t.Errorf("%d compressions for one broadcast, want 1", n)
	}
	op, compressed, got := readData(t, plain)
	if compressed || envData(t, op, got) != string(data) {
		t.Fatalf("plain client: compressed %v", compressed)
	}
	if len(wire)*3 > len(got) {
		t.Errorf("compressed %d bytes to %d only", len(got), len(wire))
	}

	before = framesCompressed.Load()
	h.Publish("prices", MessageText, []byte("small"))
	for _, c := range append(zs, plain) {
		if _, compressed, _ := readData(t, c); compressed {
			t.Fatal("a small message was compressed")
		}
	}
	if n := framesCompressed.Load() - before; n != 0 {
		t.Errorf("%d compressions of a small message", n)
	}
}

// TestHubCompressionOff: HubOptions.Conn.DisableCompression answers no
// extension and sends every message as it is.
func TestHubCompressionOff(t *testing.T) {
	leakcheck.Check(t)
	h, srv := serveHub(t, HubOptions{Conn: AcceptOptions{DisableCompression: true}})
	c := dial(t, srv.URL+"?topic=t", offerDeflate)
	if ext := c.Response.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("Sec-WebSocket-Extensions %q with compression off", ext)
	}
	h.Publish("t", MessageText, bytes.Repeat([]byte("a"), 4096))
	if _, compressed, _ := readData(t, c); compressed {
		t.Fatal("compressed with compression off")
	}
}

// TestConnSendCompressed: Send and Write on an accepted connection
// compress a large message; Read returns what a compressing client sent.
func TestConnSendCompressed(t *testing.T) {
	leakcheck.Check(t)
	got := make(chan []byte, 1)
	srv := serve(t, nil, func(c *Conn) {
		_, p, err := c.Read(context.Background())
		if err == nil {
			c.Write(context.Background(), MessageBinary, p)
		}
		got <- p
		c.Close(StatusNormalClosure, "")
	})
	c := dial(t, srv.URL, offerDeflate)
	msg := bytes.Repeat([]byte{1, 2, 3, 4}, 1000)
	c.WriteFrames(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpBinary, Masked: true, Payload: deflateBytes(t, msg)})
	if p := <-got; !bytes.Equal(p, msg) {
		t.Fatalf("Read %d bytes, want %d", len(p), len(msg))
	}
	if _, compressed, p := readData(t, c); !compressed || !bytes.Equal(p, msg) {
		t.Fatalf("Write: compressed %v, %d bytes", compressed, len(p))
	}
}

// envData returns the text data of a hub message.
func envData(t testing.TB, op byte, p []byte) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(decodeEnvelope(t, op, p).Data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzInflate checks the decompressor of received messages against
// compress/flate read to the end: it never returns more than the limit,
// says a message is too big only when it inflates past the limit, returns
// what the reference returns otherwise; and compressFrame's frames inflate
// back to their payload.
func FuzzInflate(f *testing.F) {
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, uint16(100)) // "Hello"
	f.Add([]byte{0xff, 0xff, 0xff}, uint16(10))
	f.Add([]byte{}, uint16(0))
	f.Add(deflateBytes(f, make([]byte, 5000)), uint16(4999))
	f.Add(deflateBytes(f, []byte(strings.Repeat("abc", 300))), uint16(900))
	f.Fuzz(func(t *testing.T, p []byte, limit uint16) {
		// The reference reads a bytes.Reader, an io.ByteReader, so that it
		// reads no further than its DEFLATE data, as inflate does: what it
		// leaves of p is data after the final block.
		in := bytes.NewReader(append(slices.Clip(p), inflateTail...))
		ref, refErr := io.ReadAll(io.LimitReader(flate.NewReader(in), int64(limit)+1))
		trailing := refErr == nil && len(ref) <= int(limit) && in.Len() > len(inflateTail)
		got, err := inflate(nil, p, int64(limit))
		switch {
		case len(got) > int(limit):
			t.Fatalf("inflate returned %d bytes over the limit %d", len(got), limit)
		case err == errTrailingData:
			if !trailing {
				t.Fatalf("inflate found data after the final block; the reference read all of it (%d bytes, %v)", len(ref), refErr)
			}
		case trailing:
			t.Fatalf("inflate gave %d bytes and %v for data with bytes after its final block", len(got), err)
		case err == errInflatedTooBig:
			if len(ref) <= int(limit) {
				t.Fatalf("too big at limit %d, but the reference gives %d bytes (%v)", limit, len(ref), refErr)
			}
		case err != nil:
			if refErr == nil && len(ref) <= int(limit) {
				t.Fatalf("inflate: %v; the reference gives %d bytes", err, len(ref))
			}
		case refErr != nil || !bytes.Equal(got, ref):
			t.Fatalf("inflate gave %d bytes, the reference %d (%v)", len(got), len(ref), refErr)
		}

		frame := appendFrame(nil, opBinary, p)
		z := compressShared(frame)
		if len(z) > len(frame) {
			t.Fatalf("compressShared grew the frame from %d to %d bytes", len(frame), len(z))
		}
		h := parseHeader(z)
		body := z[len(z)-int(h.length):]
		if h.rsv == 0 {
			if !bytes.Equal(z, frame) {
				t.Fatal("uncompressed frame changed")
			}
			return
		}
		back, err := inflate(nil, body, int64(len(p)))
		if err != nil || !bytes.Equal(back, p) {
			t.Fatalf("round trip: %v, %d bytes of %d", err, len(back), len(p))
		}
	})
}

// TestCompressionSmallWindow: a client that allows the server a window of
// 2^8 bytes gets compressed only the messages that fit in it, so that no
// distance reaches past its window.
func TestCompressionSmallWindow(t *testing.T) {
	leakcheck.Check(t)
	srv := serve(t, &AcceptOptions{compressionThreshold: 100}, echo)
	c := dial(t, srv.URL, http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate; server_max_window_bits=8"}})
	for _, n := range []int{256, 257, 5000} {
		msg := strings.Repeat("ab", n/2) + strings.Repeat("c", n%2)
		send(t, c, wstest.OpText, msg)
		_, compressed, got := readData(t, c)
		if string(got) != msg || compressed != (n <= 256) {
			t.Fatalf("%d bytes: compressed %v, want %v", n, compressed, n <= 256)
		}
	}
}

// TestInflateRatio: compressed messages may inflate to maxInflateRatio
// times what was received, besides one message of the read limit, so that
// a client cannot make the server inflate a thousand bytes for each one it
// sends. A bomb past that is closed with StatusPolicyViolation; ordinary
// compressible traffic never meets the bound.
func TestInflateRatio(t *testing.T) {
	freshInflateCredit(t)
	srv := serve(t, nil, echo)
	url := strings.Replace(srv.URL, "http", "ws", 1)

	c := dial(t, url, offerDeflate)
	row := `{"symbol":"ACME","bid":101.25,"ask":101.5,"time":"2026-12-02T10:00:00Z"},`
	for i := range 300 {
		msg := []byte("[" + strings.Repeat(row, 1+i%40) + "{}]")
		if err := c.WriteFrames(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpText, Masked: true, Payload: deflateBytes(t, msg)}); err != nil {
			t.Fatal(err)
		}
		if _, _, got := readData(t, c); !bytes.Equal(got, msg) {
			t.Fatalf("message %d came back as %d bytes, want %d", i, len(got), len(msg))
		}
	}

	c = dial(t, url, offerDeflate)
	bomb := deflateBytes(t, make([]byte, defaultReadLimit))
	t.Logf("a bomb of %d bytes inflates to %d", len(bomb), defaultReadLimit)
	for i := range 2 {
		if err := c.WriteFrames(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpBinary, Masked: true, Payload: bomb}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, _, got := readData(t, c); len(got) != defaultReadLimit {
				t.Fatalf("the first bomb came back as %d bytes", len(got))
			}
		}
	}
	if cf := readClose(t, c); cf.Code != int(StatusPolicyViolation) {
		t.Fatalf("second bomb: close %d %q, want %d", cf.Code, cf.Reason, StatusPolicyViolation)
	}
}
