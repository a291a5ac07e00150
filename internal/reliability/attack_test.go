package reliability

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/testutil"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// The adversarial suite: one test per class of hostile client of the
// README's threat model ("What one client can make the server hold"), each
// run by runAttack (attackrig_test.go) with N abusive clients at once.
//
// N is sized for the project's machine (2 cores, 20,000 open files per
// process, shared) and for a CI run of a few seconds per class: every
// connection costs this process two descriptors, and the flooding classes
// share two cores with the server. The budgets are per connection, so N
// only scales them: on a larger machine REALTIME_HOSTILE_CONNS=4000 runs
// each class with 4,000 attackers (9,000 at most within 20,000 files),
// which the README's bounds say a 1 GiB server survives.

// Per-connection bounds of the budgets, from the threat model.
const (
	// connOverhead is what the server may hold for one connection besides
	// what the attack makes it buffer: its net/http or ws state, a
	// subscription, a frame reader (goroutine stacks are not heap).
	connOverhead = 16 << 10
	// writeOverhead is what a connection's writer may hold while its
	// write to a peer that does not read waits: the buffer small frames
	// are joined in (internal/pump, 32 KiB) and the list of the shared
	// log's frames of the batch.
	writeOverhead = 36 << 10
	// streamOverhead is what the server may hold for a connection it
	// writes to and that does not read.
	streamOverhead = connOverhead + writeOverhead
	// pongListBytes is the list of pongs a connection that is pinged
	// faster than it reads may make the server keep: 32 pongs of 125
	// bytes with their headers (ws's maxPendingPongs).
	pongListBytes = 32 * (2 + 125)
	// topicOverhead is what one position in a topic may cost, the topic
	// itself included when the client is its only subscriber.
	topicOverhead = 1 << 10
)

// A wsAttacker is the client end of an abusive WebSocket connection.
type wsAttacker struct {
	nc   net.Conn
	base int64 // bytes the server had read from it once upgraded
}

// openWS opens n WebSocket connections to target from 127.0.0.1, with
// small kernel buffers when small is set, each sending the headers h with
// its handshake, and holds them until the attack ends.
func openWS(t *testing.T, r *attackRig, n int, target string, h http.Header, small bool) []*wsAttacker {
	t.Helper()
	out := make([]*wsAttacker, n)
	d := dialer("", small)
	err := many(n, func(i int) error {
		c, resp, err := dialWS(d, r.addr, target, h)
		if c == nil {
			return fmt.Errorf("attacker %d: %v %s", i, err, respStatus(resp))
		}
		r.hold(c.Close)
		out[i] = &wsAttacker{nc: c.nc}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range out {
		a.base, _ = r.readFrom(a.nc)
	}
	return out
}

// flood has c write b again and again until the attack ends or a write
// fails, at the attack's floodRate in all when it has one.
func (r *attackRig) flood(c net.Conn, b []byte) {
	r.wg.Go(func() {
		for {
			if r.tokens != nil {
				select {
				case <-r.stop:
					return
				case <-r.tokens:
				}
			} else {
				select {
				case <-r.stop:
					return
				default:
				}
			}
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	})
}

// feedTokens hands out tokens for writes of size bytes at rate bytes per
// second until the attack ends.
func (r *attackRig) feedTokens(size, rate int) {
	const every = 2 * time.Millisecond
	per := max(1, int(int64(rate)*int64(every)/int64(time.Second))/size)
	r.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
			for range per {
				select {
				case r.tokens <- struct{}{}:
				default:
				}
			}
		}
	})
}

// waitRead waits until the server has read at least want(i) bytes of
// attacker i beyond its handshake, and waits in a read of it when
// waiting is set.
func waitRead(t *testing.T, r *attackRig, what string, as []*wsAttacker, want func(i int) int64, waiting bool) {
	t.Helper()
	// The attacks move up to hundreds of MiB through loopback sockets
	// whose buffers they bound; on a loaded machine under the race
	// detector that takes longer than an ordinary wait, and only a hang
	// should fail here.
	waitfor.State(t, what, 4*waitTimeout, func() (bool, string) {
		for i, a := range as {
			got, w := r.readFrom(a.nc)
			if got-a.base < want(i) || waiting && !w {
				return false, fmt.Sprintf("attacker %d: the server read %d of %d bytes, waits for more: %v", i, got-a.base, want(i), w)
			}
		}
		return true, ""
	})
}

// waitEchoStopped waits until the echo stopped reading from each of as,
// clients that send frames of frameLen bytes and never read, and checks
// that it read no more than two messages of each. The echo reads a
// message, hands it to the writer, reads the next and waits in Write for
// room. The writer's write of the first blocks at once (the kernel holds
// little for a peer that does not read, see netopt), so WriteTimeout after
// it began the server drops the peer as a slow consumer: on a loaded
// machine that can come before the echo has read the second message. Either
// way the server stops reading; what it holds is bounded by the two
// messages, which the heap budget checks.
func waitEchoStopped(t *testing.T, r *attackRig, as []*wsAttacker, frameLen int) {
	t.Helper()
	want := 2 * int64(frameLen)
	waitfor.State(t, "the echo to read two messages of each client, or drop it as a slow consumer", 4*waitTimeout, func() (bool, string) {
		for i, a := range as {
			got, _ := r.readFrom(a.nc)
			if got-a.base < want && !r.ln.Closed(a.nc.LocalAddr()) {
				return false, fmt.Sprintf("attacker %d: the server read %d of %d bytes and holds the connection", i, got-a.base, want)
			}
		}
		return true, ""
	})
	dropped, short := 0, 0
	for i, a := range as {
		got, _ := r.readFrom(a.nc)
		if got-a.base > want+echoReadAhead {
			t.Errorf("attacker %d: the echo read %d bytes, past two messages of %d bytes: it went on reading", i, got-a.base, frameLen)
		}
		if r.ln.Closed(a.nc.LocalAddr()) {
			dropped++
			if got-a.base < want {
				short++
			}
		}
	}
	t.Logf("the echo stopped reading from %d clients; %d of them dropped as slow consumers, %d before it read their second message",
		len(as), dropped, short)
}

// echoReadAhead is what the echo may read past the messages it returned:
// its buffered reader's read-ahead, and what the closing handshake of a
// dropped connection may read and discard.
const echoReadAhead = 64<<10 + 4<<10

// pingFloodRate is what the ping flood's clients send in all, in bytes per
// second: half a million pings a second, each a pong for a server that
// would queue one per ping (the old design: 2 GB in 10 s from one client).
const pingFloodRate = 64 << 20

// TestAttackPingFlood: clients that ping without pause and never read,
// against the Hub and the echo. The server answers only the last pings (a
// pong list of at most 32 per connection) and keeps reading.
func TestAttackPingFlood(t *testing.T) {
	testutil.Long(t)
	for _, target := range []string{"/ws?topic=t", "/echo"} {
		t.Run(strings.TrimPrefix(target, "/"), func(t *testing.T) {
			n := attackConns(t, 200)
			var as []*wsAttacker
			ping := wstest.Encode(wstest.Masked(wstest.OpPing, bytes.Repeat([]byte("p"), 125)))
			flood := bytes.Repeat(ping, 256) // 33 KB
			runAttack(t, attack{
				floodRate: pingFloodRate,
				prepare:   func(t *testing.T, r *attackRig) { as = openWS(t, r, n, target, nil, true) },
				start: func(t *testing.T, r *attackRig) uint64 {
					r.feedTokens(len(flood), pingFloodRate)
					for _, a := range as {
						r.flood(a.nc, flood)
					}
					// Four times the pings of the list of pongs.
					waitRead(t, r, "the server to read the pings", as, func(int) int64 { return 4 * int64(len(flood)) }, false)
					return uint64(n) * (streamOverhead + pongListBytes)
				},
			})
		})
	}
}

// TestAttackEchoNonReaders: clients that send messages of the read limit
// to the echo and never read. Write waits once SendBuffer is full, and the
// echo stops reading: the server holds the message being written and the
// one waiting to be, not what the client goes on sending, until it drops
// the client as a slow consumer (see waitEchoStopped).
func TestAttackEchoNonReaders(t *testing.T) {
	testutil.Long(t)
	n := attackConns(t, 64)
	const size = wsReadLimit
	frame := wstest.Encode(wstest.Masked(wstest.OpBinary, bytes.Repeat([]byte("e"), size)))
	var as []*wsAttacker
	runAttack(t, attack{
		prepare: func(t *testing.T, r *attackRig) { as = openWS(t, r, n, "/echo", nil, true) },
		start: func(t *testing.T, r *attackRig) uint64 {
			for _, a := range as {
				r.flood(a.nc, frame)
			}
			// Two messages read: one is being written, the other waits in
			// Write; the echo reads no more.
			waitEchoStopped(t, r, as, len(frame))
			return uint64(n) * (2*size + wsSendBuffer + connOverhead)
		},
	})
}

// TestAttackResumeStorm: clients that resume from the start of a full
// history, SSE and WebSocket, and never read. Each replay is written from
// the shared log, without a copy and without holding the hub, so the
// server holds a position per client and publishing goes on.
func TestAttackResumeStorm(t *testing.T) {
	testutil.Long(t)
	n := attackConns(t, 300)
	const topic = "full"
	var conns []net.Conn
	runAttack(t, attack{
		prepare: func(t *testing.T, r *attackRig) {
			// Fill both histories past their default bound (2 MiB).
			data := strings.Repeat("h", 4000)
			for range 2 * hub.DefaultHistoryBytes / len(data) {
				if _, err := r.broker.Publish(topic, sse.Event{Data: data}); err != nil {
					t.Fatal(err)
				}
				if _, err := r.hub.Publish(topic, ws.MessageText, []byte(data)); err != nil {
					t.Fatal(err)
				}
			}
			conns = make([]net.Conn, n)
			d := dialer("", true)
			if err := many(n, func(i int) error {
				c, err := d.Dial("tcp", r.addr)
				if err != nil {
					return err
				}
				r.hold(c.Close)
				conns[i] = c
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		},
		start: func(t *testing.T, r *attackRig) uint64 {
			sse0, ws0 := r.broker.Stats(), r.hub.Stats()
			if err := many(n, func(i int) error {
				var req string
				if i%2 == 0 {
					req = fmt.Sprintf("GET /events?topic=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nLast-Event-ID: %s-0\r\n\r\n", topic, r.addr, r.broker.Epoch())
				} else {
					req = fmt.Sprintf("GET /ws?topic=%s&lastEventId=%s-0 HTTP/1.1\r\nHost: %s\r\n%s\r\n", topic, r.hub.Epoch(), r.addr, upgradeHeaders)
				}
				_, err := conns[i].Write([]byte(req))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			sseN, wsN := uint64((n+1)/2), uint64(n/2)
			waitfor.State(t, "every resume to be replaying", waitTimeout, func() (bool, string) {
				s, h := r.broker.Stats(), r.hub.Stats()
				return s.Opened-sse0.Opened >= sseN && h.Opened-ws0.Opened >= wsN &&
						s.Replayed-sse0.Replayed >= sseN && h.Replayed-ws0.Replayed >= wsN,
					fmt.Sprintf("broker %+v, hub %+v", s, h)
			})
			return uint64(n) * streamOverhead
		},
	})
}

// TestAttackSlotsFromOneAddress: one address opens more connections than
// the server holds, as the examples are set up (MaxClientsPerAddr). It gets
// its share and 429 past it; clients of other addresses still connect
// (the well-behaved ones from 127.0.0.2, a newcomer from 127.0.0.3 during
// the attack) and keep receiving.
func TestAttackSlotsFromOneAddress(t *testing.T) {
	testutil.Long(t)
	const perAddr = 32 // the ticker's maxStreamsPerAddr
	n := attackConns(t, 400)
	maxClients := n / 2 // what the attacker alone would fill without the per-address bound
	var accepted, refused [2]int
	runAttack(t, attack{
		broker:   sse.BrokerOptions{MaxClients: maxClients, MaxClientsPerAddr: perAddr},
		hub:      ws.HubOptions{MaxClients: maxClients, MaxClientsPerAddr: perAddr},
		liveAddr: "127.0.0.2",
		start: func(t *testing.T, r *attackRig) uint64 {
			d := dialer("", true)
			var mu sync.Mutex
			err := many(n, func(i int) error {
				var ok bool
				var resp *http.Response
				var err error
				if i%2 == 0 {
					var c *sseConn
					c, resp, err = dialSSE(d, r.addr, "/events?topic=t", nil)
					if ok = c != nil; ok {
						r.hold(c.Close)
					}
				} else {
					var c *wsConn
					c, resp, err = dialWS(d, r.addr, "/ws?topic=t", nil)
					if ok = c != nil; ok {
						r.hold(c.Close)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case ok:
					accepted[i%2]++
				case resp != nil && resp.StatusCode == http.StatusTooManyRequests:
					refused[i%2]++
				default:
					return fmt.Errorf("attacker %d: %v %s, want 200, 101 or 429", i, err, respStatus(resp))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("the attacker got %v connections (SSE, WebSocket) and %v answers 429", accepted, refused)
			for k := range 2 {
				if accepted[k] != perAddr {
					t.Errorf("the attacker holds %d connections of a kind, want MaxClientsPerAddr (%d)", accepted[k], perAddr)
				}
			}
			// A newcomer from another address gets in.
			nd := dialer("127.0.0.3", false)
			c, resp, err := dialSSE(nd, r.addr, "/events?topic="+attackTopic, nil)
			if c == nil {
				t.Errorf("a newcomer's SSE stream during the attack: %v %s", err, respStatus(resp))
			} else {
				c.Close()
			}
			w, resp, err := dialWS(nd, r.addr, "/ws?topic="+attackTopic, nil)
			if w == nil {
				t.Errorf("a newcomer's WebSocket during the attack: %v %s", err, respStatus(resp))
			} else {
				w.Close()
			}
			return uint64(2*perAddr) * streamOverhead
		},
	})
}

// TestAttackSlowHeaders: clients that send a request head with a huge
// Last-Event-ID header a line at a time and stop before its end
// (slowloris). The server holds what arrived, until ReadHeaderTimeout.
func TestAttackSlowHeaders(t *testing.T) {
	testutil.Long(t)
	n := attackConns(t, 400)
	const value = 16 << 10
	var conns []net.Conn
	var sent uint64
	runAttack(t, attack{
		prepare: func(t *testing.T, r *attackRig) {
			conns = make([]net.Conn, n)
			if err := many(n, func(i int) error {
				c, err := dialer("", false).Dial("tcp", r.addr)
				if err != nil {
					return err
				}
				r.hold(c.Close)
				conns[i] = c
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		},
		start: func(t *testing.T, r *attackRig) uint64 {
			head := []byte(fmt.Sprintf("GET /events?topic=t HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nLast-Event-ID: %s",
				r.addr, strings.Repeat("9", value)))
			if err := many(n, func(i int) error {
				_, err := conns[i].Write(head)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			sent = uint64(n * len(head))
			waitfor.State(t, "the server to read every head and wait for its end", waitTimeout, func() (bool, string) {
				for i, c := range conns {
					got, w := r.readFrom(c)
					if got != int64(len(head)) || !w {
						return false, fmt.Sprintf("connection %d: read %d of %d bytes, waiting %v", i, got, len(head), w)
					}
				}
				return true, ""
			})
			// net/http keeps a line it reads in a buffer that doubles as
			// it grows: twice the bytes received.
			return 2*sent + uint64(n)*connOverhead
		},
	})
}

// TestAttackManyTopics: clients that each ask for the most topics a
// client may have (MaxTopics, 64), all new, and never read. The server
// holds a position per topic.
func TestAttackManyTopics(t *testing.T) {
	testutil.Long(t)
	n := attackConns(t, 200)
	runAttack(t, attack{
		start: func(t *testing.T, r *attackRig) uint64 {
			d := dialer("", true)
			if err := many(n, func(i int) error {
				var q strings.Builder
				for k := range wsMaxTopics {
					fmt.Fprintf(&q, "&topic=c%d-%d", i, k)
				}
				target := q.String()[1:]
				if i%2 == 0 {
					c, resp, err := dialSSE(d, r.addr, "/events?"+target, nil)
					if c == nil {
						return fmt.Errorf("attacker %d: %v %s", i, err, respStatus(resp))
					}
					r.hold(c.Close)
				} else {
					c, resp, err := dialWS(d, r.addr, "/ws?"+target, nil)
					if c == nil {
						return fmt.Errorf("attacker %d: %v %s", i, err, respStatus(resp))
					}
					r.hold(c.Close)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return uint64(n) * (streamOverhead + wsMaxTopics*topicOverhead)
		},
	})
}

// offerDeflate is the permessage-deflate offer browsers send.
var offerDeflate = http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate; client_max_window_bits"}}

// TestAttackCompressionBomb: clients that negotiate permessage-deflate and
// each send a message of 64 KB that inflates to 64 times the read limit.
// Inflating stops at the limit and the connection is closed with 1009:
// the server holds at most the read limit per connection.
func TestAttackCompressionBomb(t *testing.T) {
	testutil.Long(t)
	n := attackConns(t, 100)
	bomb := maskedFrame(0x80|0x40|wstest.OpBinary, deflated(t, make([]byte, 64*wsReadLimit)))
	var as []*wsAttacker
	runAttack(t, attack{
		prepare: func(t *testing.T, r *attackRig) { as = openWS(t, r, n, "/ws?topic=t", offerDeflate, true) },
		start: func(t *testing.T, r *attackRig) uint64 {
			for _, a := range as {
				if _, err := a.nc.Write(bomb); err != nil {
					t.Fatal(err)
				}
			}
			for i, a := range as {
				a.nc.SetReadDeadline(time.Now().Add(waitTimeout))
				f, err := (&wstest.Conn{Conn: a.nc, R: bufio.NewReader(a.nc)}).ReadFrame()
				if err != nil || f.Op != wstest.OpClose || wstest.ParseClose(f.Payload).Code != 1009 {
					t.Fatalf("attacker %d: %+v %v, want a close frame 1009", i, f, err)
				}
			}
			return uint64(n) * (wsReadLimit + 2*connOverhead)
		},
	})
}

// deflated compresses p as a permessage-deflate sender does.
func deflated(t *testing.T, p []byte) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// bombRate is what the clients of TestAttackCompressionBombUnderLimit send
// in all, in bytes per second: 4 MB/s, which would inflate to 4 GB/s.
const bombRate = 4 << 20

// TestAttackCompressionBombUnderLimit: clients that negotiate
// permessage-deflate and send, again and again, messages of about 1 KB
// that inflate to just under the read limit (1 MiB of zeros). Each is
// valid, so without a bound the server inflates every one, a thousand
// bytes of work and garbage per byte read: 100 such clients at 4 MB/s in
// all brought publishing down to 16% of its rate. Compressed messages may
// inflate to wsInflateRatio times what was received besides one
// message of the read limit, so each client is closed with 1008 by its
// second bomb.
func TestAttackCompressionBombUnderLimit(t *testing.T) {
	testutil.Long(t)
	for _, target := range []string{"/ws?topic=t", "/echo"} {
		t.Run(strings.TrimPrefix(target, "/"), func(t *testing.T) {
			n := attackConns(t, 100)
			bomb := maskedFrame(0x80|0x40|wstest.OpBinary, deflated(t, make([]byte, wsReadLimit-1)))
			var as []*wsAttacker
			runAttack(t, attack{
				floodRate: bombRate,
				prepare:   func(t *testing.T, r *attackRig) { as = openWS(t, r, n, target, offerDeflate, true) },
				start: func(t *testing.T, r *attackRig) uint64 {
					r.feedTokens(len(bomb), bombRate)
					for _, a := range as {
						r.flood(a.nc, bomb)
					}
					for i, a := range as {
						a.nc.SetReadDeadline(time.Now().Add(waitTimeout))
						c := &wstest.Conn{Conn: a.nc, R: bufio.NewReader(a.nc)}
						for {
							f, err := c.ReadFrame()
							if err != nil {
								t.Fatalf("attacker %d: %v, want a close frame 1008", i, err)
							}
							if f.Op == wstest.OpClose {
								if code := wstest.ParseClose(f.Payload).Code; code != 1008 {
									t.Fatalf("attacker %d: close %d, want 1008", i, code)
								}
								break
							}
						}
					}
					perConn := uint64(wsReadLimit + 2*connOverhead)
					if target == "/echo" {
						perConn += compressorSize // the echo compresses what it read back
					}
					return uint64(n) * perConn
				},
			})
		})
	}
}

// compressorSize is what compressing one message holds while it runs: the
// state of a compress/flate writer (its hash tables and window, about
// 0.8 MiB at any level) and its output.
const compressorSize = 1 << 20
