package reliability

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// TestBadInput sends malformed, oversized and hostile requests to a
// server set up as the examples set theirs up, checks the answer to each
// (a status or a close code), and checks that meanwhile a well-behaved SSE
// client and WebSocket client get every message published.
func TestBadInput(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	// The examples' ReadHeaderTimeout, not a shorter one that would end
	// the slowloris case sooner: this test opens hundreds of connections,
	// and a client starved between its connect and its request on a
	// loaded machine for longer than a short bound was closed unanswered.
	r := startRig(t, rigOptions{})
	const good = "good"
	sseGood, resp, err := dialSSE(nil, r.addr, "/events?topic="+good, nil)
	if sseGood == nil {
		t.Fatal(err, respStatus(resp))
	}
	wsGood, resp, err := dialWS(nil, r.addr, "/ws?topic="+good, nil)
	if wsGood == nil {
		t.Fatal(err, respStatus(resp))
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer sseGood.Close()
	defer wsGood.Close()
	sseTally, wsTally := &tally{}, &tally{}
	wg.Go(func() { readSSE(sseGood, sseTally) })
	wg.Go(func() { readWS(wsGood, wsTally) })
	p := newPublisher(func(seq int) error {
		if _, err := r.broker.Publish(good, sse.Event{Data: payload(seq)}); err != nil {
			return err
		}
		_, err := r.hub.Publish(good, ws.MessageText, []byte(payload(seq)))
		return err
	})
	stop := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() { pubErr <- p.run(1<<30, 2*time.Millisecond, stop) }()
	waitfor.Cond(t, "the well-behaved clients to get a first message", waitTimeout, func() bool {
		n1, _ := sseTally.count()
		n2, _ := wsTally.count()
		return n1 > 0 && n2 > 0
	})
	last := sseTally.last()
	epoch := last[:max(0, strings.LastIndexByte(last, '-'))] // epochs may hold "-"
	wsEpoch := r.hub.Epoch()

	tried := 0
	t.Run("http", func(t *testing.T) { tried += testBadHTTP(t, r) })
	t.Run("slowloris", func(t *testing.T) { tried += testSlowloris(t, r) })
	t.Run("handshake", func(t *testing.T) { tried += testBadHandshakes(t, r) })
	t.Run("frames", func(t *testing.T) { tried += testBadFrames(t, r) })
	t.Run("lastEventId", func(t *testing.T) { tried += testBadLastEventID(t, r, epoch, wsEpoch) })
	t.Run("topics", func(t *testing.T) { tried += testBadTopics(t, r) })

	close(stop)
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	sent := int(p.sent.Load())
	waitfor.Cond(t, "the well-behaved clients to get every message", waitTimeout, func() bool {
		n1, e1 := sseTally.count()
		n2, e2 := wsTally.count()
		return (n1 == sent || e1 != nil) && (n2 == sent || e2 != nil)
	})
	for name, tl := range map[string]*tally{"sse": sseTally, "ws": wsTally} {
		if n, err := tl.count(); n != sent || err != nil {
			t.Errorf("well-behaved %s client: %d of %d messages, %v", name, n, sent, err)
		}
	}
	t.Logf("%d bad inputs tried; the well-behaved clients got all %d messages each", tried, sent)
	t.Logf("broker %+v", r.broker.Stats())
	t.Logf("hub %+v", r.hub.Stats())
}

// wantStatus fails t unless resp has status want.
func wantStatus(t *testing.T, name string, resp *http.Response, err error, want int) {
	t.Helper()
	switch {
	case err != nil:
		t.Errorf("%s: %v, want status %d", name, err, want)
	case resp.StatusCode != want:
		body, _ := io.ReadAll(resp.Body)
		t.Errorf("%s: status %s (%q), want %d", name, resp.Status, body, want)
	}
}

func testBadHTTP(t *testing.T, r *rig) int {
	host := "Host: " + r.addr + "\r\n"
	huge := strings.Repeat("a", 2<<20)
	cases := []struct {
		name, req string
		want      int
	}{
		{"garbage request line", "HELLO WORLD\r\n\r\n", 400},
		{"binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
		{"unknown HTTP version", "GET /events?topic=a HTTP/9.9\r\n" + host + "\r\n", 505},
		{"no Host", "GET /events?topic=a HTTP/1.1\r\n\r\n", 400},
		{"header without colon", "GET /events?topic=a HTTP/1.1\r\n" + host + "NoColonHere\r\n\r\n", 400},
		{"NUL in a header", "GET /events?topic=a HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", 400},
		{"huge header", "GET /events?topic=a HTTP/1.1\r\n" + host + "X-Big: " + huge + "\r\n\r\n", 431},
		{"huge URL", "GET /events?topic=a&x=" + huge + " HTTP/1.1\r\n" + host + "\r\n", 431},
		{"huge Last-Event-ID", "GET /events?topic=a HTTP/1.1\r\n" + host + "Last-Event-ID: " + huge + "\r\n\r\n", 431},
		{"bad Content-Length", "POST /events?topic=a HTTP/1.1\r\n" + host + "Content-Length: abc\r\n\r\n", 400},
		{"unknown Transfer-Encoding", "POST /events?topic=a HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", 501},
		{"POST /events", "POST /events?topic=a HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n", 405},
		{"PUT /events", "PUT /events?topic=a HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n", 405},
		{"DELETE /events", "DELETE /events?topic=a HTTP/1.1\r\n" + host + "\r\n", 405},
		{"OPTIONS /events", "OPTIONS /events?topic=a HTTP/1.1\r\n" + host + "\r\n", 405},
		{"PATCH /events", "PATCH /events?topic=a HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n", 405},
		{"CONNECT", "CONNECT 127.0.0.1:22 HTTP/1.1\r\n" + host + "\r\n", 404},
		{"HEAD /events", "HEAD /events?topic=a HTTP/1.1\r\n" + host + "\r\n", 200},
	}
	for _, c := range cases {
		opened := r.broker.Stats().Opened
		resp, err := rawRequest(r.addr, c.req)
		// The server stops reading a request whose head is too large: it
		// answers 431 and closes with the rest unread, so the kernel may
		// reset the connection before the client reads the answer. The
		// reset is the same refusal, if no stream was opened.
		if c.want == http.StatusRequestHeaderFieldsTooLarge && errors.Is(err, syscall.ECONNRESET) {
			if n := r.broker.Stats().Opened; n != opened {
				t.Errorf("%s: connection reset after %d streams opened, want none", c.name, n-opened)
			}
			continue
		}
		wantStatus(t, c.name, resp, err, c.want)
		if err == nil && c.want == 405 {
			if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s: Allow %q, want \"GET, HEAD\"", c.name, allow)
			}
		}
	}
	return len(cases)
}

// slowlorisConns is how many slowloris connections run at once.
const slowlorisConns = 4

// testSlowloris sends request headers a few bytes at a time and checks
// that the server closes each connection, without an answer, within its
// ReadHeaderTimeout.
func testSlowloris(t *testing.T, r *rig) int {
	var wg sync.WaitGroup
	for i := range slowlorisConns {
		wg.Go(func() {
			nc, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			start := time.Now()
			path := []string{"/events?topic=a", "/ws"}[i%2]
			if _, err := fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, r.addr); err != nil {
				t.Error(err)
				return
			}
			closed := make(chan error, 1)
			go func() {
				nc.SetReadDeadline(time.Now().Add(waitTimeout))
				var b [512]byte
				n, err := nc.Read(b[:])
				if n > 0 {
					err = fmt.Errorf("server answered %q", b[:n])
				}
				closed <- err
			}()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case err := <-closed:
					took := time.Since(start)
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Errorf("slowloris %d: still open after %v (ReadHeaderTimeout %v)", i, took, defaultReadHeaderTimeout)
					} else if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
						t.Errorf("slowloris %d: %v, want the connection closed", i, err)
					}
					return
				case <-tick.C:
					nc.Write([]byte("X-Slow: a\r\n")) // fails once the server has closed
				}
			}
		})
	}
	wg.Wait()
	return slowlorisConns
}

func testBadHandshakes(t *testing.T, r *rig) int {
	host := "Host: " + r.addr + "\r\n"
	get := "GET /ws?topic=a HTTP/1.1\r\n" + host
	cases := []struct {
		name, req string
		want      int
	}{
		{"no upgrade headers", get + "\r\n", 426},
		{"Upgrade without Connection", get + "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 426},
		{"Upgrade: h2c", get + "Upgrade: h2c\r\nConnection: Upgrade\r\n\r\n", 426},
		{"no Sec-WebSocket-Key", get + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
		{"version 8", get + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 400},
		{"no version", get + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 400},
		{"POST upgrade", "POST /ws?topic=a HTTP/1.1\r\n" + host + upgradeHeaders + "Content-Length: 0\r\n\r\n", 405},
		{"cross-site Origin", get + upgradeHeaders + "Origin: http://evil.example\r\n\r\n", 403},
		{"malformed Origin", get + upgradeHeaders + "Origin: ::::\r\n\r\n", 403},
		{"Origin null", get + upgradeHeaders + "Origin: null\r\n\r\n", 403},
	}
	for _, c := range cases {
		opened := r.broker.Stats().Opened
		resp, err := rawRequest(r.addr, c.req)
		// The server stops reading a request whose head is too large: it
		// answers 431 and closes with the rest unread, so the kernel may
		// reset the connection before the client reads the answer. The
		// reset is the same refusal, if no stream was opened.
		if c.want == http.StatusRequestHeaderFieldsTooLarge && errors.Is(err, syscall.ECONNRESET) {
			if n := r.broker.Stats().Opened; n != opened {
				t.Errorf("%s: connection reset after %d streams opened, want none", c.name, n-opened)
			}
			continue
		}
		wantStatus(t, c.name, resp, err, c.want)
		if err == nil && c.want == 400 && strings.Contains(c.name, "version") {
			if v := resp.Header.Get("Sec-WebSocket-Version"); v != "13" {
				t.Errorf("%s: Sec-WebSocket-Version %q, want 13", c.name, v)
			}
		}
	}
	return len(cases)
}

// testBadFrames sends a few broken frames after a good handshake and
// checks the close code. The ws package's own suite covers RFC 6455 in
// full; these check that the Hub answers like a bare Conn.
func testBadFrames(t *testing.T, r *rig) int {
	cases := []struct {
		name  string
		frame []byte
		want  int
	}{
		{"unmasked frame", []byte{0x81, 0x02, 'h', 'i'}, 1002},
		{"reserved opcode", maskedFrame(0x83, nil), 1002},
		{"RSV1 without extension", maskedFrame(0xC1, []byte("x")), 1002},
		{"invalid UTF-8 text", maskedFrame(0x81, []byte{0xff, 0xfe}), 1007},
		{"over the read limit", []byte{0x82, 0xFF, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4}, 1009},
		{"ping over 125 bytes", maskedFrame(0x89, make([]byte, 126)), 1002},
		{"continuation first", maskedFrame(0x80, []byte("x")), 1002},
		{"close code 1005", maskedFrame(0x88, []byte{0x03, 0xed}), 1002},
	}
	for _, c := range cases {
		w, resp, err := dialWS(nil, r.addr, "/ws?topic=frames", nil)
		if w == nil {
			t.Fatal(err, respStatus(resp))
		}
		w.nc.SetDeadline(time.Now().Add(waitTimeout))
		if err := w.WriteRaw(c.frame); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		var code int
		for {
			if _, _, err = w.ReadMessage(); err != nil {
				code = closeCode(err)
				break
			}
		}
		if code != c.want {
			t.Errorf("%s: ended with %v, want close %d", c.name, err, c.want)
		}
		w.Close()
	}
	return len(cases)
}

// testBadLastEventID resumes with IDs the history cannot serve and checks
// that each stream starts with a gap notice giving the reason.
func testBadLastEventID(t *testing.T, r *rig, epoch, wsEpoch string) int {
	ids := []struct{ name, id, reason string }{
		{"garbage", "!!garbage!!", "malformed id"},
		{"no sequence", epoch + "-", "malformed id"},
		{"negative", epoch + "--5", "unknown epoch"}, // the epoch would end with "-"
		{"overflow", epoch + "-99999999999999999999999", "malformed id"},
		{"huge", strings.Repeat("9", 8<<10), "malformed id"},
		{"other epoch", "zzzzzzzz-1", "unknown epoch"},
		{"future", epoch + "-999999999", "future id"},
		{"unicode", "é-1", "unknown epoch"},
	}
	for _, c := range ids {
		h := http.Header{"Last-Event-Id": {c.id}}
		s, resp, err := dialSSE(nil, r.addr, "/events?topic=good", h)
		if s == nil {
			t.Errorf("sse %s: %v %s, want 200 and a gap event", c.name, err, respStatus(resp))
			continue
		}
		s.nc.SetDeadline(time.Now().Add(waitTimeout))
		ev, err := s.Next()
		var gap sse.Gap
		if err == nil {
			err = json.Unmarshal([]byte(ev.Data), &gap)
		}
		if err != nil || ev.Type != sse.GapEvent || gap.Reason != c.reason || len(gap.LastEventID) > 64 {
			t.Errorf("sse %s: first event %+v (%v), want a gap event with reason %q", c.name, ev, err, c.reason)
		}
		s.Close()

		wid := c.id
		if strings.HasPrefix(wid, epoch) {
			wid = wsEpoch + strings.TrimPrefix(wid, epoch)
		}
		w, resp, err := dialWS(nil, r.addr, "/ws?topic=good&lastEventId="+url.QueryEscape(wid), nil)
		if w == nil {
			t.Errorf("ws %s: %v %s, want 101 and a gap notice", c.name, err, respStatus(resp))
			continue
		}
		w.nc.SetDeadline(time.Now().Add(waitTimeout))
		e, err := w.ReadEnvelope()
		if err != nil || e.Type != "gap" || e.Reason != c.reason {
			t.Errorf("ws %s: first message %+v (%v), want a gap notice with reason %q", c.name, e, err, c.reason)
		}
		w.Close()
	}
	return 2 * len(ids)
}

// testBadTopics asks for empty, huge, malicious and too many topics, and
// for many distinct ones in turn.
func testBadTopics(t *testing.T, r *rig) int {
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "&topic=t%d", i)
		}
		return b.String()
	}
	cases := []struct {
		name, query string
		sse, ws     int // the status each answers with
	}{
		{"no topic", "", 400, 101},
		{"empty topic", "topic=", 400, 400},
		{"257 bytes", "topic=" + strings.Repeat("a", 257), 400, 400},
		{"16 KiB", "topic=" + strings.Repeat("a", 16<<10), 400, 400},
		{"NUL", "topic=a%00b", 400, 400},
		{"CR LF", "topic=a%0D%0Aevent:%20x", 400, 400},
		{"DEL", "topic=a%7F", 400, 400},
		{"C1 control", "topic=a%C2%85", 400, 400},
		{"invalid UTF-8", "topic=%FF%FE", 400, 400},
		{"overlong UTF-8", "topic=%C0%AF", 400, 400},
		{"surrogate", "topic=%ED%A0%80", 400, 400},
		{"65 topics", many(65)[1:], 400, 400},
		{"5,000 topics", many(5000)[1:], 400, 400},
		{"one good, one bad", "topic=good&topic=%00", 400, 400},
		{"markup", "topic=" + url.QueryEscape("<script>alert(1)</script>"), 200, 101},
		{"path", "topic=" + url.QueryEscape("../../etc/passwd"), 200, 101},
		{"quotes", "topic=" + url.QueryEscape(`"}{'; DROP`), 200, 101},
		{"256 bytes of UTF-8", "topic=" + url.QueryEscape(strings.Repeat("é", 128)), 200, 101},
	}
	for _, c := range cases {
		s, resp, err := dialSSE(nil, r.addr, "/events?"+c.query, nil)
		got := 0
		switch {
		case s != nil:
			got = 200
			s.Close()
		case resp != nil:
			got = resp.StatusCode
		}
		if got != c.sse || err != nil {
			t.Errorf("sse %s: status %d (%v), want %d", c.name, got, err, c.sse)
		}
		w, resp, err := dialWS(nil, r.addr, "/ws?"+c.query, nil)
		got = 0
		switch {
		case w != nil:
			got = 101
			w.Close()
		case resp != nil:
			got = resp.StatusCode
		}
		if got != c.ws || err != nil {
			t.Errorf("ws %s: status %d (%v), want %d", c.name, got, err, c.ws)
		}
	}

	// Thousands of distinct topics, one stream each in turn: the server
	// holds none of them afterwards, only the well-behaved client's. The
	// streams of the cases above are closed first: the broker may notice
	// their clients leave a little later.
	const wellBehaved = 1
	waitfor.Cond(t, "the broker to close the streams of the cases above", waitTimeout, func() bool {
		return r.broker.Stats().Clients == wellBehaved
	})
	for i := range distinctTopics {
		s, resp, err := dialSSE(nil, r.addr, fmt.Sprintf("/events?topic=distinct-%d", i), nil)
		if s == nil {
			t.Fatalf("distinct topic %d: %v %s", i, err, respStatus(resp))
		}
		s.Close()
	}
	waitfor.Cond(t, "the broker to close the streams of distinct topics", waitTimeout, func() bool {
		return r.broker.Stats().Clients == wellBehaved
	})
	return 2*len(cases) + distinctTopics
}

// distinctTopics is how many streams, each on a topic of its own, the
// bad-topic test opens in turn.
const distinctTopics = 1_000
