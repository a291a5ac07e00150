package ws

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// answerServer is a server on 127.0.0.1 that reads each handshake request
// and answers with answer(key), the Sec-WebSocket-Accept value for the
// request's key, then hands the connection to play, if any. It returns
// the URL to dial.
func answerServer(t *testing.T, answer func(w io.Writer, accept string), play func(nc net.Conn, br *bufio.Reader)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				bw := bufio.NewWriter(nc)
				answer(bw, base64.StdEncoding.EncodeToString(sum[:]))
				if bw.Flush() == nil && play != nil {
					play(nc, br)
				}
			}()
		}
	}()
	return "ws://" + ln.Addr().String()
}

// writeRepeated writes s to w n times, stopping at the first error.
func writeRepeated(w io.Writer, s string, n int) {
	chunk := []byte(strings.Repeat(s, max(1, 64<<10/len(s))))
	for sent := 0; sent < n*len(s); sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// TestDialHandshakeAnswerBounded: a server whose 101 answer never ends (a
// header line without an end, or header lines without number) makes Dial
// fail with errHandshake once the answer passes maxHandshakeResponse bytes
// or maxHandshakeHeaders lines, having allocated a few times that, not in
// proportion to what the server sent (32 MiB here).
func TestDialHandshakeAnswerBounded(t *testing.T) {
	leakcheck.Check(t)
	const sent = 32 << 20
	for _, tc := range []struct {
		name   string
		answer func(w io.Writer)
	}{
		{"endless header line", func(w io.Writer) { io.WriteString(w, "X-Long: "); writeRepeated(w, "a", sent) }},
		{"endless header lines", func(w io.Writer) { writeRepeated(w, "X-A: b\r\n", sent/8) }},
		{"endless status line", func(w io.Writer) { writeRepeated(w, "9", sent) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := answerServer(t, func(w io.Writer, accept string) {
				if tc.name != "endless status line" {
					io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+accept+"\r\n")
				} else {
					io.WriteString(w, "HTTP/1.1 101 ")
				}
				tc.answer(w)
			}, nil)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c, err := Dial(dialCtx(t), u, nil)
			runtime.ReadMemStats(&after)
			if err == nil {
				c.CloseNow()
			}
			t.Logf("%d MiB sent at most: Dial allocated %d KiB: %v", sent>>20, (after.TotalAlloc-before.TotalAlloc)>>10, err)
			if !errors.Is(err, errHandshake) || !errors.Is(err, errHandshakeTooLarge) {
				t.Fatalf("Dial = %v, want errHandshake: %v", err, errHandshakeTooLarge)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*maxHandshakeResponse {
				t.Fatalf("Dial allocated %d bytes, want at most %d", alloc, 8*maxHandshakeResponse)
			}
		})
	}
}

// TestDialHandshakeAnswerKept: what follows the answer's blank line, a frame
// sent at once, stays for Read; header lines up to the bounds are fine.
func TestDialHandshakeAnswerKept(t *testing.T) {
	leakcheck.Check(t)
	u := answerServer(t, func(w io.Writer, accept string) {
		io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+accept+"\r\n")
		for range maxHandshakeHeaders - 4 {
			io.WriteString(w, "X-Filler: "+strings.Repeat("f", 1000)+"\r\n")
		}
		io.WriteString(w, "Sec-WebSocket-Protocol: chat\r\n\r\n")
		w.Write(appendFrame(nil, opText, []byte("first")))
	}, func(nc net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) })
	ctx := dialCtx(t)
	c, err := Dial(ctx, u, &DialOptions{Subprotocols: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "chat" {
		t.Errorf("subprotocol %q, want chat", c.Subprotocol())
	}
	if _, p, err := c.Read(ctx); err != nil || !bytes.Equal(p, []byte("first")) {
		t.Fatalf("Read = %q, %v; want the frame sent with the answer", p, err)
	}
}

// FuzzHandshakeAnswer: whatever a server answers, handshakeConn hands
// x/net at most maxHandshakeResponse bytes and maxHandshakeHeaders header
// lines, keeps exactly what it handed, and leaves every byte after the
// answer's blank line for the connection's reader.
func FuzzHandshakeAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n\x81\x02hi"))
	f.Add([]byte("HTTP/1.1 403 Forbidden\nContent-Length: 5\n\nnope!"))
	f.Add([]byte("HTTP/1.1 101 " + strings.Repeat("x", 300)))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := &handshakeConn{br: bufio.NewReaderSize(bytes.NewReader(data), readBufferSize)}
		handed, _ := io.ReadAll(h)
		if len(h.got) > maxHandshakeResponse || !bytes.HasPrefix(data, h.got) {
			t.Fatalf("kept %d bytes that are not the answer's start", len(h.got))
		}
		// What x/net got is the answer's whole lines, the extensions
		// header renamed.
		var want []byte
		for line := range bytes.Lines(h.got) {
			if !bytes.HasSuffix(line, []byte("\n")) {
				break
			}
			if len(line) > len(extensionsHeader) && bytes.EqualFold(line[:len(extensionsHeader)], []byte(extensionsHeader)) {
				want = append(want, "X-"...)
			}
			want = append(want, line...)
		}
		if !bytes.Equal(handed, want) {
			t.Fatalf("handed x/net %q, want %q", handed, want)
		}
		if h.ended {
			rest, _ := io.ReadAll(h.br)
			if !bytes.Equal(append(bytes.Clone(h.got), rest...), data) {
				t.Fatalf("after the answer, %q left of %q", rest, data)
			}
		}
	})
}
