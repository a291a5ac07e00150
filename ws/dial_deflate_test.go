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
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

// TestDialCompression: Dial offers permessage-deflate by default and a
// server of this package accepts it: messages both ways go compressed and
// come back intact. DisableCompression offers nothing.
func TestDialCompression(t *testing.T) {
	leakcheck.Check(t)
	offers := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offers <- r.Header.Get("Sec-WebSocket-Extensions")
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		echo(c)
	}))
	defer srv.Close()
	ctx := dialCtx(t)
	c, err := Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if offer := <-offers; !strings.HasPrefix(offer, "permessage-deflate") || !c.compress {
		t.Fatalf("offer %q, compression %v: want permessage-deflate offered and accepted", offer, c.compress)
	}
	before := framesCompressed.Load()
	for _, n := range []int{10, 600, 70_000} {
		msg := bytes.Repeat([]byte(`{"price":101.5,"symbol":"ACME"}`), n/31+1)[:n]
		if err := c.Send(MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if _, back, err := c.Read(ctx); err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("message of %d bytes came back as %d bytes, %v", n, len(back), err)
		}
	}
	if got := framesCompressed.Load() - before; got != 4 {
		t.Errorf("%d frames compressed, want 4: two messages over the threshold, each way", got)
	}
	c.Close(StatusNormalClosure, "")

	c, err = Dial(ctx, srv.URL, &DialOptions{DisableCompression: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if offer := <-offers; offer != "" || c.compress {
		t.Fatalf("DisableCompression: offer %q, compression %v", offer, c.compress)
	}
}

// TestDialDeflateAnswers: the server's answer to the offer is checked as
// RFC 7692 asks of a client: an answer the offer allows turns compression
// on (and a compressed message from the server is inflated, within the
// window the server allowed the client); anything else fails the
// handshake with errHandshake.
func TestDialDeflateAnswers(t *testing.T) {
	leakcheck.Check(t)
	msg := strings.Repeat("compress me please ", 100)
	read := make(chan bool, 1)
	for _, tc := range []struct {
		answer  string
		disable bool
		window  int    // 0: the handshake fails
		why     string // in the error
	}{
		{answer: "permessage-deflate; server_no_context_takeover", window: 15},
		{answer: "permessage-deflate;server_no_context_takeover;client_no_context_takeover", window: 15},
		{answer: "Permessage-Deflate; Server_No_Context_Takeover; server_max_window_bits=10; client_max_window_bits=\"9\"", window: 9},
		{answer: "permessage-deflate", why: "without server_no_context_takeover"},
		{answer: "x-webkit-deflate-frame", why: "not offered"},
		{answer: "permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover", why: "not offered"},
		{answer: "permessage-deflate; server_no_context_takeover; foo", why: "unknown"},
		{answer: "permessage-deflate; server_no_context_takeover; server_no_context_takeover", why: "twice"},
		{answer: "permessage-deflate; server_no_context_takeover=1", why: "with a value"},
		{answer: "permessage-deflate; server_no_context_takeover; client_max_window_bits", why: "not 8 to 15"},
		{answer: "permessage-deflate; server_no_context_takeover; server_max_window_bits=7", why: "not 8 to 15"},
		{answer: "permessage-deflate; server_no_context_takeover", disable: true, why: "not offered"},
	} {
		u := answerServer(t, func(w io.Writer, accept string) {
			io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+accept+"\r\n")
			io.WriteString(w, "Sec-WebSocket-Extensions: "+tc.answer+"\r\n\r\n")
			w.Write(compressShared(appendFrame(nil, opText, []byte(msg))))
		}, func(nc net.Conn, br *bufio.Reader) {
			// The client's message: its first frame's RSV1 says whether it
			// was compressed.
			wc := &wstest.Conn{Conn: nc, R: br}
			f, err := wc.ReadFrame()
			if err != nil {
				return
			}
			if compressed := f.Rsv&0x40 != 0; compressed != (tc.window == 15) {
				t.Errorf("%q: the client's message of %d bytes compressed: %v", tc.answer, len(msg), compressed)
			}
			if p, err := inflateClient(f); err != nil || p != msg {
				t.Errorf("%q: the client's message reads as %d bytes, %v", tc.answer, len(p), err)
			}
			read <- true
		})
		ctx := dialCtx(t)
		c, err := Dial(ctx, u, &DialOptions{DisableCompression: tc.disable})
		if tc.window == 0 {
			if err == nil {
				c.CloseNow()
			}
			if !errors.Is(err, errHandshake) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("answer %q: Dial = %v, want errHandshake saying %q", tc.answer, err, tc.why)
			}
			continue
		}
		if err != nil {
			t.Errorf("answer %q: %v", tc.answer, err)
			continue
		}
		if !c.compress || int(c.window) != tc.window {
			t.Errorf("answer %q: compression %v, window %d, want window %d", tc.answer, c.compress, c.window, tc.window)
		}
		if _, p, err := c.Read(ctx); err != nil || string(p) != msg {
			t.Errorf("answer %q: Read = %d bytes, %v; want the compressed message inflated", tc.answer, len(p), err)
		}
		c.Send(MessageText, []byte(msg)) // 1,900 bytes: within a window of 2^15, not 2^9
		<-read
		c.CloseNow()
	}
}

// inflateClient returns the text of a client's frame f, masked, compressed
// or not.
func inflateClient(f wstest.Frame) (string, error) {
	if f.Rsv&0x40 == 0 {
		return string(f.Payload), nil
	}
	p, err := inflate(nil, f.Payload, 1<<20)
	return string(p), err
}

// FuzzDeflateAnswered: any Sec-WebSocket-Extensions answer is either
// refused or turns compression on with a window of 8 to 15 bits, and only
// with server_no_context_takeover, which Read needs.
func FuzzDeflateAnswered(f *testing.F) {
	for _, s := range []string{
		"", "permessage-deflate; server_no_context_takeover",
		"permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
		`permessage-deflate; server_no_context_takeover; client_max_window_bits="10", x`,
		"permessage-deflate", "foo, bar", "permessage-deflate;;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		window, err := deflateAnswered([]string{s}, true)
		if err != nil {
			return
		}
		if window == 0 {
			for ext := range strings.SplitSeq(s, ",") {
				if strings.TrimSpace(ext) != "" {
					t.Fatalf("%q: no compression and no error", s)
				}
			}
			return
		}
		if window < 8 || window > 15 || !strings.Contains(strings.ToLower(s), "server_no_context_takeover") {
			t.Fatalf("%q: accepted with window %d", s, window)
		}
	})
}
