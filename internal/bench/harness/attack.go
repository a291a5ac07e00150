package harness

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/realtime-go/realtime/internal/bench/load"
	"github.com/realtime-go/realtime/internal/bench/servers"
)

// The attack scenarios (-scenario attack, or attack-CLASS): for each class
// of hostile client of the README's threat model and each of our servers
// of its protocol (ours-sse or ours-ws, and their -baseline revisions),
// a server process is started, one well-behaved subscriber connects from
// a load process, N abusive clients attack from this process over raw
// sockets, and while they do the server publishes attackMsgs messages to
// the subscriber's topic at attackEvery (stamped when due, so a publisher
// held back shows in the latency). Reported: the server's peak live heap
// (runtime/metrics, sampled every 2 ms by the server itself) over what it
// held before the attack, the subscriber's p99 and max latency, the rate
// publishing kept, and what the attackers met. A server whose resident set
// passes attackRSSCap is relieved: the attack ends there, and the report
// says so.
const (
	attackMsgs   = 200
	attackEvery  = 10 * time.Millisecond
	attackRSSCap = 4 << 30
	attackTopic  = "live"
)

// AttackPrefix starts the name of every attack scenario.
const AttackPrefix = "attack-"

// An attackClass is one kind of hostile client.
type attackClass struct {
	name  string
	kind  string // "sse" or "ws": the protocol of the servers it attacks
	n     int    // abusive clients
	what  string // what each does, for the table
	flags []string
	// liveAfter: the well-behaved subscriber connects once the attack is
	// in place (it tries to get a slot), not before.
	liveAfter bool
	// prepare runs before the heap is measured.
	prepare func(a *attackRun) error
	// start opens the attack and returns once it is in place.
	start func(a *attackRun) error
}

// AttackClasses lists the attack scenarios' classes, by name without the
// prefix.
func AttackClasses() []string {
	var out []string
	for _, c := range attackClasses {
		out = append(out, c.name)
	}
	return out
}

var attackClasses = []attackClass{
	{name: "header-only", kind: "ws", n: 2000, what: "a frame header announcing the read limit (1 MiB), no payload",
		start: func(a *attackRun) error {
			hdr := maskedHeader(0x82, 1<<20)
			return a.eachWS("/ws?topic=t", "", func(c net.Conn) error { _, err := c.Write(hdr); return err })
		}},
	{name: "ping-flood", kind: "ws", n: 100, what: "pings at 64 MB/s in all, never reads",
		start: func(a *attackRun) error {
			ping := maskedFrame(0x89, bytes.Repeat([]byte("p"), 125))
			flood := bytes.Repeat(ping, 256)
			a.tokens(len(flood), 64<<20)
			return a.eachWS("/ws?topic=t", "", func(c net.Conn) error { a.flood(c, flood); return nil })
		}},
	{name: "echo-large", kind: "ws", n: 16, what: "1 MiB messages to the echo (ws.Accept, default read limit), never reads",
		start: func(a *attackRun) error {
			msg := maskedFrame(0x82, bytes.Repeat([]byte("e"), 1<<20))
			return a.eachWS("/echo", "", func(c net.Conn) error { a.flood(c, msg); return nil })
		}},
	{name: "resume-sse", kind: "sse", n: 300, what: "resumes from the start of a full history (2 MB), never reads",
		prepare: fillHistory, start: func(a *attackRun) error {
			return a.each(func(c net.Conn) error {
				_, err := fmt.Fprintf(c, "GET /events?topic=full HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nLast-Event-ID: %s-0\r\n\r\n", a.addr, a.epoch)
				a.count("resume sent")
				return err
			})
		}},
	{name: "resume-ws", kind: "ws", n: 300, what: "resumes from the start of a full history (2 MB), never reads",
		prepare: fillHistory, start: func(a *attackRun) error {
			return a.eachWS("/ws?topic=full&lastEventId="+a.epoch+"-0", "", nil)
		}},
	{name: "slots", kind: "sse", n: 400, flags: []string{"-maxclients", "400", "-peraddr", "32"},
		what: "one address opens MaxClients (400) streams; MaxClientsPerAddr 32 where the revision has it", liveAfter: true,
		start: func(a *attackRun) error {
			a.from = "127.0.0.2"
			return a.each(func(c net.Conn) error {
				if _, err := fmt.Fprintf(c, "GET /events?topic=t HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", a.addr); err != nil {
					return err
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					return err
				}
				a.count(resp.Status)
				return nil
			})
		}},
	{name: "slow-headers", kind: "sse", n: 2000, what: "a request head with a 16 KiB Last-Event-ID, never finished",
		start: func(a *attackRun) error {
			return a.each(func(c net.Conn) error {
				_, err := fmt.Fprintf(c, "GET /events?topic=t HTTP/1.1\r\nHost: %s\r\nLast-Event-ID: %s", a.addr, strings.Repeat("9", 16<<10))
				a.count("head held open")
				return err
			})
		}},
	{name: "many-topics", kind: "ws", n: 1000, what: "64 new topics each (the most a client may have), never reads",
		start: func(a *attackRun) error {
			var i int
			var mu sync.Mutex
			return a.eachWSPath(func() string {
				mu.Lock()
				defer mu.Unlock()
				i++
				var q strings.Builder
				for k := range 64 {
					fmt.Fprintf(&q, "&topic=c%d-%d", i, k)
				}
				return "/ws?" + q.String()[1:]
			}, "", nil)
		}},
	{name: "deflate-bomb", kind: "ws", n: 100, what: "permessage-deflate messages of 1 KB that inflate to just under the read limit, 4 MB/s in all",
		start: func(a *attackRun) error {
			bomb := maskedFrame(0xc2, deflated(make([]byte, 1<<20-1)))
			a.tokens(len(bomb), 4<<20)
			return a.eachWS("/ws?topic=t", "Sec-WebSocket-Extensions: permessage-deflate\r\n", func(c net.Conn) error { a.flood(c, bomb); return nil })
		}},
}

// AttackResult is what one server did under one attack.
type AttackResult struct {
	Class, Lib string
	N          int
	Err        string
	Note       string // what the attackers met; "relieved" when the server passed attackRSSCap

	HeapBefore, PeakHeapLive, PeakHeapObjs uint64
	PeakRSS                                uint64
	P99, Max                               time.Duration // -1 when the subscriber got nothing
	PubRate                                float64       // messages per second published during the attack, of 1/attackEvery
	Lost                                   uint64
}

// RunAttacks runs the attack scenarios named (each "attack-CLASS", or
// "attack" for every class) against c.Libs' servers of their protocol.
func RunAttacks(c Config, names []string) ([]AttackResult, error) {
	c.fill()
	var classes []attackClass
	for _, n := range names {
		for _, cl := range attackClasses {
			if n == "attack" || n == AttackPrefix+cl.name {
				classes = append(classes, cl)
			}
		}
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("harness: no attack scenario in %q; the classes are %s", names, strings.Join(AttackClasses(), ", "))
	}
	libs, err := contenders(c)
	if err != nil {
		return nil, err
	}
	var out []AttackResult
	for _, cl := range classes {
		for _, lib := range libs {
			base, _, _ := strings.Cut(lib.Name, "@")
			if base != "ours-"+cl.kind {
				continue
			}
			start := time.Now()
			r := runAttack(c, lib, cl)
			out = append(out, r)
			fmt.Fprintf(c.Log, "attack %-13s %-20s %6.1fs heap +%s (peak objects %s), p99 %v, publish %.0f/s, %s %s\n",
				cl.name, lib.Name, time.Since(start).Seconds(), fmtBytes(r.PeakHeapLive-min(r.PeakHeapLive, r.HeapBefore)),
				fmtBytes(r.PeakHeapObjs), r.P99.Round(time.Millisecond), r.PubRate, r.Note, r.Err)
		}
	}
	return out, nil
}

// An attackRun is one class against one server.
type attackRun struct {
	cl    attackClass
	srv   *serverProc
	addr  string
	from  string // local address of the attackers; "" for 127.0.0.1
	epoch string // the server's epoch, when prepare found it

	stop   chan struct{}
	wg     sync.WaitGroup
	tokenc chan struct{}

	mu     sync.Mutex
	conns  []net.Conn
	counts map[string]int
}

func runAttack(c Config, lib contender, cl attackClass) (r AttackResult) {
	r = AttackResult{Class: cl.name, Lib: lib.Name, N: cl.n}
	srv, err := startServer(lib, 0, cl.flags...)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	a := &attackRun{cl: cl, srv: srv, addr: srv.data, stop: make(chan struct{}), counts: map[string]int{}}
	live := &loadGroup{exe: c.Exe, srv: srv, path: lib.TopicPath(attackTopic), perProc: 1}
	defer func() {
		a.end()
		live.stop()
		srv.stop()
	}()
	fail := func(err error) AttackResult {
		r.Err = err.Error()
		return r
	}
	liveOK := false
	if !cl.liveAfter {
		if err := addLive(live); err != nil {
			return fail(err)
		}
		liveOK = true
	}
	if cl.prepare != nil {
		if err := cl.prepare(a); err != nil {
			return fail(fmt.Errorf("prepare: %w", err))
		}
	}
	if _, err := srv.statsQuery(true, false); err != nil {
		return fail(err)
	}
	st, err := srv.statsQuery(false, true)
	if err != nil {
		return fail(err)
	}
	r.HeapBefore = st.HeapLive

	relieved := make(chan struct{})
	guardDone := make(chan struct{})
	go func() {
		defer close(guardDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-tick.C:
			}
			rss, err := servers.ReadRSS(srv.pid())
			if err != nil {
				return
			}
			a.mu.Lock()
			r.PeakRSS = max(r.PeakRSS, rss)
			a.mu.Unlock()
			if rss > attackRSSCap {
				close(relieved)
				a.end()
				return
			}
		}
	}()
	if err := cl.start(a); err != nil {
		select {
		case <-relieved:
		default:
			a.end()
			<-guardDone
			return fail(fmt.Errorf("attack: %w", err))
		}
	}
	if cl.liveAfter {
		if err := addLive(live); err != nil {
			a.note("the subscriber could not connect: " + err.Error())
		} else {
			liveOK = true
		}
	}
	if liveOK {
		if _, err := live.all(load.Command{Op: "expect", From: 1, Count: attackMsgs, Latency: true}); err != nil {
			return fail(err)
		}
	}
	pub, err := srv.publish(attackTopic, attackMsgs, attackEvery)
	if err != nil {
		return fail(err)
	}
	if pub.LastNs > pub.FirstNs {
		r.PubRate = float64(attackMsgs-1) / time.Duration(pub.LastNs-pub.FirstNs).Seconds()
	}
	if !liveOK {
		r.P99, r.Max, r.Lost = -1, -1, attackMsgs
	} else {
		rep, err := live.all(load.Command{Op: "wait", Timeout: c.Wait})
		if err != nil {
			return fail(err)
		}
		r.P99, r.Max = rep.Latency.Quantile(0.99), rep.Latency.Quantile(1)
		if rep.Got == 0 {
			r.P99, r.Max = -1, -1
		}
		r.Lost = attackMsgs - min(attackMsgs, rep.Got)
		if rep.Ended > 0 {
			a.note("the subscriber was disconnected: " + rep.EndErr)
		}
	}
	st, err = srv.stats(false)
	if err != nil {
		return fail(err)
	}
	r.PeakHeapLive, r.PeakHeapObjs = st.PeakHeapLive, st.PeakHeapObjs
	a.end()
	<-guardDone
	select {
	case <-relieved:
		a.note(fmt.Sprintf("relieved: the server's resident set passed %s and the attack was stopped", fmtBytes(attackRSSCap)))
	default:
	}
	r.Note = a.summary()
	return r
}

// addLive connects the well-behaved subscriber.
func addLive(g *loadGroup) error {
	rep, err := g.add(1)
	if err != nil {
		return err
	}
	if rep.Failed > 0 || rep.Conns != 1 {
		return fmt.Errorf("%s", cmp.Or(rep.FirstErr, rep.EndErr, "refused"))
	}
	return nil
}

// fillHistory publishes 2 MB to topic "full" (the history's default
// bound: 2 MiB in bytes today, 1,024 messages in the old design) and finds
// the server's epoch.
func fillHistory(a *attackRun) error {
	if _, err := a.srv.publishSized("full", 1024, 2000); err != nil {
		return err
	}
	// The epoch: the ID of a message published once a reader listens.
	kind := a.cl.kind
	var c net.Conn
	var br *bufio.Reader
	var err error
	if kind == "sse" {
		c, err = net.DialTimeout("tcp", a.addr, 10*time.Second)
		if err == nil {
			fmt.Fprintf(c, "GET /events?topic=epoch HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", a.addr)
			br = bufio.NewReader(c)
		}
	} else {
		c, br, err = wsDial(a.addr, "", "/ws?topic=epoch", "")
	}
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		st, err := a.srv.stats(false)
		if err != nil {
			return err
		}
		if st.Subscribers >= 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := a.srv.publish("epoch", 1, 0); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if kind == "sse" {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id:"); ok {
				a.epoch, _, _ = strings.Cut(strings.TrimSpace(id), "-")
				return nil
			}
		}
	}
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return err
	}
	n := int(hdr[1] & 0x7f)
	if n == 126 {
		var b [2]byte
		io.ReadFull(br, b[:])
		n = int(binary.BigEndian.Uint16(b[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return err
	}
	var e struct{ ID string }
	if err := json.Unmarshal(p, &e); err != nil {
		return fmt.Errorf("epoch message %q: %w", p, err)
	}
	a.epoch, _, _ = strings.Cut(e.ID, "-")
	return nil
}

// dial opens a TCP connection from a.from with small kernel buffers, so
// that the server's writes to an attacker that does not read block at
// once.
func (a *attackRun) dial() (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if a.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(a.from)}
	}
	c, err := d.Dial("tcp", a.addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
		tc.SetWriteBuffer(4096)
	}
	a.mu.Lock()
	a.conns = append(a.conns, c)
	a.mu.Unlock()
	return c, nil
}

// each opens a.cl.n connections, 64 at a time, and runs f on each.
func (a *attackRun) each(f func(c net.Conn) error) error {
	work := make(chan struct{})
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range work {
				c, err := a.dial()
				if err == nil {
					err = f(c)
				}
				if err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			}
		})
	}
loop:
	for range a.cl.n {
		select {
		case work <- struct{}{}:
		case <-a.stop:
			break loop
		}
	}
	close(work)
	wg.Wait()
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// eachWS opens a.cl.n WebSocket connections to path, with the extra
// header lines hdr, and runs f on each (when not nil).
func (a *attackRun) eachWS(path, hdr string, f func(c net.Conn) error) error {
	return a.eachWSPath(func() string { return path }, hdr, f)
}

func (a *attackRun) eachWSPath(path func() string, hdr string, f func(c net.Conn) error) error {
	return a.each(func(c net.Conn) error {
		if _, err := wsHandshake(c, a.addr, path(), hdr); err != nil {
			a.count(err.Error())
			return nil
		}
		a.count("101 Switching Protocols")
		if f != nil {
			return f(c)
		}
		return nil
	})
}

// wsDial opens a WebSocket connection to path at addr.
func wsDial(addr, from, path, hdr string) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	br, err := wsHandshake(c, addr, path, hdr)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, br, nil
}

// wsHandshake sends the opening handshake for path on c and reads the
// answer, which must be 101.
func wsHandshake(c net.Conn, addr, path, hdr string) (*bufio.Reader, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", path, addr, hdr); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, errors.New(resp.Status)
	}
	return br, nil
}

// count records one outcome of an attacker's request.
func (a *attackRun) count(what string) {
	a.mu.Lock()
	a.counts[what]++
	a.mu.Unlock()
}

// note records a remark for the report.
func (a *attackRun) note(s string) { a.count("; " + s) }

// summary returns the outcomes counted, most frequent first.
func (a *attackRun) summary() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var keys []string
	for k := range a.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y string) int { return a.counts[y] - a.counts[x] })
	var parts []string
	for _, k := range keys {
		if strings.HasPrefix(k, "; ") {
			parts = append(parts, k[2:])
		} else {
			parts = append(parts, fmt.Sprintf("%d× %s", a.counts[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

// tokens starts handing out, until the attack ends, tokens for writes of
// size bytes at rate bytes per second in all; a flood then takes one per
// write.
func (a *attackRun) tokens(size, rate int) {
	a.tokenc = make(chan struct{}, 1024)
	const every = 2 * time.Millisecond
	per := max(1, rate*int(every/time.Microsecond)/1e6/size)
	a.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-tick.C:
			}
			for range per {
				select {
				case a.tokenc <- struct{}{}:
				default:
				}
			}
		}
	})
}

// flood has c write b again and again until the attack ends or a write
// fails, one write per token when a.tokens was called.
func (a *attackRun) flood(c net.Conn, b []byte) {
	a.wg.Go(func() {
		for {
			if a.tokenc != nil {
				select {
				case <-a.stop:
					return
				case <-a.tokenc:
				}
			} else {
				select {
				case <-a.stop:
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

// end stops the attack and closes its connections; it may be called more
// than once.
func (a *attackRun) end() {
	a.mu.Lock()
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	conns := a.conns
	a.conns = nil
	a.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	a.wg.Wait()
}

// maskedHeader returns the header of a masked frame whose first byte is b0
// announcing n bytes of payload, with a zero mask key (the payload goes
// as it is).
func maskedHeader(b0 byte, n int) []byte {
	h := []byte{b0, 0}
	switch {
	case n < 126:
		h[1] = 0x80 | byte(n)
	case n < 1<<16:
		h[1] = 0x80 | 126
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	default:
		h[1] = 0x80 | 127
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	return append(h, 0, 0, 0, 0)
}

// maskedFrame returns a masked frame whose first byte is b0 with payload p.
func maskedFrame(b0 byte, p []byte) []byte {
	return append(maskedHeader(b0, len(p)), p...)
}

// deflated compresses p as a permessage-deflate sender does.
func deflated(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// publishSized has the server publish n messages of size bytes to topic
// at once.
func (p *serverProc) publishSized(topic string, n, size int) (servers.PublishResult, error) {
	var res servers.PublishResult
	v := url.Values{"n": {fmt.Sprint(n)}, "topic": {topic}, "size": {fmt.Sprint(size)}}
	resp, err := p.client.PostForm("http://"+p.ctl+"/publish", v)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return res, err
	}
	if res.Err != "" {
		return res, errors.New(res.Err)
	}
	return res, nil
}

// fmtBytes formats a byte count in MiB.
func fmtBytes(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// WriteAttackTable writes the attack results as a markdown table: per
// class, each server's figures.
func WriteAttackTable(w io.Writer, rs []AttackResult) {
	fmt.Fprintf(w, "\n### Attacks\n\n")
	fmt.Fprintf(w, "One well-behaved subscriber gets %d messages published at %v while N abusive clients attack (the server's heap is sampled by the server every 2 ms; `+heap` is its peak live heap over what it held before the attack, `objects` the peak heap of objects, garbage included).\n\n", attackMsgs, attackEvery)
	fmt.Fprintf(w, "| attack | N | what each client does | server | +heap (peak live) | objects peak | RSS peak | p99 ms | max ms | published/s | lost | what the attackers met |\n")
	fmt.Fprintf(w, "|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, r := range rs {
		var what string
		for _, c := range attackClasses {
			if c.name == r.Class {
				what = c.what
			}
		}
		note := r.Note
		if r.Err != "" {
			note = strings.TrimPrefix(note+"; error: "+r.Err, "; ")
		}
		ms := func(d time.Duration) string {
			if d < 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.1f", float64(d)/1e6)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %.0f | %d | %s |\n",
			r.Class, r.N, what, r.Lib, fmtBytes(r.PeakHeapLive-min(r.PeakHeapLive, r.HeapBefore)), fmtBytes(r.PeakHeapObjs), fmtBytes(r.PeakRSS),
			ms(r.P99), ms(r.Max), r.PubRate, r.Lost, strings.ReplaceAll(note, "|", "/"))
	}
}
