package ws

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/realtime-go/realtime/internal/wstest"
)

// FuzzUTF8Prefix checks the incremental validation of text messages: split
// anywhere, the chunks are accepted exactly when the whole is UTF-8, and an
// error is never reported for a prefix of valid text.
func FuzzUTF8Prefix(f *testing.F) {
	for _, s := range []string{"", "abc", "κόσμε", "\xe2\x82\xac", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\xe2\x82", "\xc0\xaf", "\xff"} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		k := int(cut) % (len(b) + 1)
		checked, ok := 0, true
		for _, end := range []int{k, len(b)} {
			n, good := utf8Prefix(b[checked:end])
			checked += n
			if !good {
				ok = false
				if utf8.Valid(b[:end]) {
					t.Fatalf("valid prefix %q rejected", b[:end])
				}
				break
			}
			if end-checked >= utf8.UTFMax {
				t.Fatalf("%d bytes left unchecked", end-checked)
			}
		}
		if got, want := ok && checked == len(b), utf8.Valid(b); got != want {
			t.Fatalf("%q split at %d: incremental says %v, utf8.Valid %v", b, k, got, want)
		}
	})
}

// FuzzFrame checks the frame encoders (a server's, and a client's that
// masks) against the test client's decoder, and that the payload of a
// frame built here starts where builtHeaderSize says.
func FuzzFrame(f *testing.F) {
	f.Add(byte(opText), 0)
	f.Add(byte(opBinary), 126)
	f.Add(byte(opBinary), 70000)
	f.Fuzz(func(t *testing.T, op byte, n int) {
		if n < 0 || n > 1<<20 {
			return
		}
		op &= 0xf
		p := bytes.Repeat([]byte{'z'}, n)
		b := appendFrame(nil, op, p)
		if len(b) != frameHeaderSize(n)+n {
			t.Fatalf("frame of %d bytes for a payload of %d", len(b), n)
		}
		got, err := (&wstest.Conn{R: bufio.NewReader(bytes.NewReader(b))}).ReadFrame()
		if err != nil || !got.Fin || got.Masked || got.Op != op || !bytes.Equal(got.Payload, p) {
			t.Fatalf("decoded %+v, %v", got, err)
		}
		h := parseHeader(b[:frameHeaderSize(n)])
		if h.length != int64(n) || h.op != op || !h.fin || h.masked {
			t.Fatalf("parseHeader: %+v", h)
		}
		if hs := builtHeaderSize(len(b)); hs != frameHeaderSize(n) {
			t.Fatalf("builtHeaderSize(%d) = %d, want %d", len(b), hs, frameHeaderSize(n))
		}
		m := appendMaskedFrame(nil, op, p)
		got, err = (&wstest.Conn{R: bufio.NewReader(bytes.NewReader(m))}).ReadFrame()
		if err != nil || !got.Fin || !got.Masked || got.Op != op || !bytes.Equal(got.Payload, p) || len(m) != len(b)+4 {
			t.Fatalf("masked: decoded %+v, %v", got, err)
		}
	})
}

var fuzzServer struct {
	once sync.Once
	addr string
}

// FuzzConn writes arbitrary bytes after a real handshake to an echo server
// over TCP, then ends its side, and checks what the server answers: well
// formed frames, valid close codes, UTF-8 text, and the end of the stream
// in bounded time.
func FuzzConn(f *testing.F) {
	for _, fr := range [][]byte{
		wstest.Encode(wstest.Masked(opText, []byte("hello"))),
		wstest.Encode(wstest.Frame{Op: opText, Masked: true, Payload: []byte("he")}),
		wstest.Encode(wstest.Masked(opPing, []byte("p"))),
		wstest.Encode(wstest.Masked(opClose, wstest.ClosePayload(1000, "bye"))),
		wstest.Encode(wstest.Masked(opClose, wstest.ClosePayload(999, ""))),
		wstest.Encode(wstest.Frame{Fin: true, Rsv: 0x40, Op: opText, Masked: true}),
		wstest.Encode(wstest.Masked(opText, []byte("\xff"))),
		wstest.Header(true, opBinary, 1<<40),
	} {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, in []byte) { fuzzConn(t, in, nil) })
}

// FuzzConnDeflate is FuzzConn on a connection that negotiated
// permessage-deflate: compressed frames, whole and fragmented, bombs and
// bad DEFLATE data go through the inflater, and the server's compressed
// echoes must inflate.
func FuzzConnDeflate(f *testing.F) {
	z := deflateBytes(f, []byte(strings.Repeat("hello ", 200)))
	for _, fr := range [][]byte{
		wstest.Encode(wstest.Frame{Fin: true, Rsv: 0x40, Op: opText, Masked: true, Payload: z}),
		append(wstest.Encode(wstest.Frame{Rsv: 0x40, Op: opBinary, Masked: true, Payload: z[:10]}),
			wstest.Encode(wstest.Frame{Fin: true, Op: opContinuation, Masked: true, Payload: z[10:]})...),
		wstest.Encode(wstest.Frame{Fin: true, Rsv: 0x40, Op: opBinary, Masked: true, Payload: deflateBytes(f, make([]byte, 1<<17))}),
		wstest.Encode(wstest.Frame{Fin: true, Rsv: 0x40, Op: opText, Masked: true, Payload: []byte{0xff}}),
		wstest.Encode(wstest.Frame{Fin: true, Rsv: 0x40, Op: opPing, Masked: true}),
	} {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, in []byte) { fuzzConn(t, in, offerDeflate) })
}

// fuzzConn is the body of FuzzConn, for a client that sends header h.
func fuzzConn(t *testing.T, in []byte, h http.Header) {
	fuzzServer.once.Do(func() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, &AcceptOptions{ReadLimit: 1 << 16, compressionThreshold: 16})
			if err == nil {
				echo(c)
			}
		}))
		fuzzServer.addr = srv.URL
	})
	c, _, err := wstest.Dial(fuzzServer.addr, h)
	if err != nil || c == nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitTimeout))
	c.Write(in)
	c.Conn.(*net.TCPConn).CloseWrite()
	for {
		fr, err := c.ReadFrame()
		if errors.Is(err, io.EOF) || isReset(err) {
			return
		}
		if err != nil {
			t.Fatalf("reading the server: %v", err)
		}
		compressed := fr.Rsv == rsvCompressed && h != nil && (fr.Op == opText || fr.Op == opBinary)
		if fr.Masked || (fr.Rsv != 0 && !compressed) || !fr.Fin {
			t.Fatalf("bad server frame %+v", fr)
		}
		if compressed {
			if fr.Payload, err = inflate(nil, fr.Payload, 1<<16); err != nil {
				t.Fatalf("server sent a compressed frame that does not inflate: %v", err)
			}
		}
		switch fr.Op {
		case opText:
			if !utf8.Valid(fr.Payload) {
				t.Fatalf("server sent invalid UTF-8 text %q", fr.Payload)
			}
		case opBinary, opPong, opPing:
		case opClose:
			cf := wstest.ParseClose(fr.Payload)
			if cf.Code != 1005 && !validWireCode(StatusCode(cf.Code)) {
				t.Fatalf("server sent close code %d", cf.Code)
			}
		default:
			t.Fatalf("server sent opcode %d", fr.Op)
		}
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
