package proxytest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/base64"
	binenc "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/ws"
)

// TestWebSocketCompression: through each proxy, a page that offers
// permessage-deflate (as every browser does) gets it from the backend, and
// a large message arrives compressed (RSV1 set) and inflates to what was
// published.
func TestWebSocketCompression(t *testing.T) {
	for _, name := range proxies {
		t.Run(name, func(t *testing.T) {
			b := startBackend(t)
			p := startProxy(t, name, b.addr)
			_, hub := b.current()

			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			tc, err := p.dialTLS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			tc.SetDeadline(time.Now().Add(waitBound))
			key := make([]byte, 16)
			rand.Read(key)
			host := p.hostPort(site)
			var req strings.Builder
			fmt.Fprintf(&req, "GET /ws?topic=room HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", host)
			fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", base64.StdEncoding.EncodeToString(key))
			fmt.Fprintf(&req, "Origin: https://%s\r\n", host)
			req.WriteString("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
			if _, err := io.WriteString(tc, req.String()); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(tc)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("handshake through %s: %v", p.name, err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake through %s: status %d, want 101", p.name, resp.StatusCode)
			}
			if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
				t.Fatalf("handshake through %s: Sec-WebSocket-Extensions %q, want permessage-deflate", p.name, ext)
			}

			waitClients(t, hub, 1)
			data := strings.Repeat("compressible text, ", 500)
			id, err := hub.Publish("room", ws.MessageText, []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			rsv1, payload := readFrame(t, br)
			if !rsv1 {
				t.Fatalf("a %d-byte message came through %s uncompressed", len(data), p.name)
			}
			raw, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff}))))
			if err != nil && err != io.ErrUnexpectedEOF {
				t.Fatalf("inflate: %v", err)
			}
			var e envelope
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("message %.80q: %v", raw, err)
			}
			if e.ID != id || e.Data != data {
				t.Fatalf("got ID %q data %.40q, want ID %q and the published data", e.ID, e.Data, id)
			}
		})
	}
}

// readFrame reads one unfragmented server frame and returns its RSV1 bit
// and payload.
func readFrame(t *testing.T, br *bufio.Reader) (rsv1 bool, payload []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if h[0]&0x80 == 0 {
		t.Fatalf("fragmented frame (header %x)", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(br, b[:])
		n = uint64(binenc.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		io.ReadFull(br, b[:])
		n = binenc.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		t.Fatalf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return h[0]&0x40 != 0, payload
}
