package compat

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
	"github.com/realtime-go/realtime/ws"
)

// origin returns the origin of the rig's front server: that of the page a
// browser would open the connection from.
func (r *rig) origin() string { return r.front.URL }

// dialOK opens a WebSocket connection to path from the front server's own
// origin, which must succeed.
func (r *rig) dialOK(path string) *wstest.Conn {
	t := r.t
	t.Helper()
	c, resp, err := r.dialWS(path, r.origin())
	if err != nil {
		t.Fatalf("WebSocket handshake: %v", err)
	}
	if c == nil {
		t.Fatalf("WebSocket handshake answered %s, want 101", resp.Status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectGoingAway: srv.Shutdown, with the Hub and the echo handler's
// connections registered through RegisterOnShutdown, closes c with 1001,
// and open reports no connection left afterwards.
func (r *rig) expectGoingAway(c *wstest.Conn, open func() int) {
	t := r.t
	t.Helper()
	if err := r.shutdown(); err != nil {
		t.Errorf("srv.Shutdown: %v", err)
	}
	code, msgs, err := readClose(c)
	if err != nil {
		t.Fatalf("waiting for the close frame after srv.Shutdown: %v (messages before: %q)", err, msgs)
	}
	if code != int(ws.StatusGoingAway) || len(msgs) > 0 {
		t.Errorf("after srv.Shutdown: close %d after %d messages, want 1001 after none", code, len(msgs))
	}
	waitfor.Cond(t, "no connection left after the close", waitBound, func() bool { return open() == 0 })
}

// checkHub: a page of the server's own origin connects to the Hub
// through the stack, gets what is published on its topic, and is closed
// with 1001 by srv.Shutdown.
func checkHub(t *testing.T, st stack, p proto, o rigOptions) {
	r := newRig(t, st, p, o)
	c := r.dialOK(st.pathOf("ws", "room"))
	waitfor.Cond(t, "the Hub to hold the connection", waitBound, func() bool { return r.hub.Stats().Clients == 1 })
	var want []string
	for i := range 3 {
		d := fmt.Sprintf("message %d", i)
		if _, err := r.hub.Publish("room", ws.MessageText, []byte(d)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		want = append(want, d)
	}
	for i, w := range want {
		op, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d of %d: %v", i+1, len(want), err)
		}
		var env struct{ Topic, Data string }
		if err := json.Unmarshal(data, &env); op != wstest.OpText || err != nil || env.Data != w || env.Topic != "room" {
			t.Fatalf("message %d: opcode %d, %q, want a text envelope of %q on room", i+1, op, data, w)
		}
	}
	r.expectGoingAway(c, func() int { return r.hub.Stats().Clients })
}

// checkEcho: a plain ws.Accept handler behind the stack echoes what a page
// of the server's own origin sends, and its connections end with 1001 on
// srv.Shutdown.
func checkEcho(t *testing.T, st stack, p proto, o rigOptions) {
	r := newRig(t, st, p, o)
	c := r.dialOK(st.pathOf("echo", ""))
	for i := range 3 {
		m := fmt.Sprintf("echo %d", i)
		if err := c.WriteFrames(wstest.Masked(wstest.OpText, []byte(m))); err != nil {
			t.Fatal(err)
		}
		op, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("echo of %q: %v", m, err)
		}
		if op != wstest.OpText || string(data) != m {
			t.Fatalf("echo of %q: opcode %d, %q", m, op, data)
		}
	}
	r.expectGoingAway(c, r.echo.open)
}

// wsRefusal is how a WebSocket handshake is expected to be refused.
type wsRefusal struct {
	status []int // any of these statuses
	why    string
}

// checkWSRefused: the handshake through the stack is refused before the
// upgrade with one of want's statuses, for the Hub and for Accept (whose
// error the user's handler gets).
func checkWSRefused(t *testing.T, st stack, p proto, want wsRefusal) {
	r := newRig(t, st, p, rigOptions{})
	for _, kind := range []string{"ws", "echo"} {
		c, resp, err := r.dialWS(st.pathOf(kind, "room"), r.origin())
		if err != nil {
			t.Fatalf("%s: handshake: %v", kind, err)
		}
		if c != nil {
			c.Close()
			t.Fatalf("%s: upgraded (101); want a refusal: %s", kind, want.why)
		}
		if !slices.Contains(want.status, resp.StatusCode) {
			t.Errorf("%s: answered %s; want one of %v: %s", kind, resp.Status, want.status, want.why)
		}
	}
	if errs := r.echo.refusals(); len(errs) != 1 {
		t.Errorf("Accept returned %d errors to the handler, want 1: %v", len(errs), errs)
	}
	if n := r.hub.Stats().Clients; n != 0 {
		t.Errorf("the Hub holds %d connections after refusing", n)
	}
}

// checkWSRefusalLogged: when the Hub cannot upgrade through the stack, it
// answers with one of want's statuses and logs an error, at its Logger,
// that names the cause.
func checkWSRefusalLogged(t *testing.T, st stack, p proto, want wsRefusal) {
	r := newRig(t, st, p, rigOptions{})
	c, resp, err := r.dialWS(st.pathOf("ws", "room"), r.origin())
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if c != nil {
		c.Close()
		t.Fatalf("upgraded (101); want a refusal: %s", want.why)
	}
	if !slices.Contains(want.status, resp.StatusCode) {
		t.Errorf("answered %s; want one of %v: %s", resp.Status, want.status, want.why)
	}
	if errs := r.hubLog.atLeast(slog.LevelError); len(errs) == 0 {
		t.Errorf("the Hub logged no error for the refusal; it logged: %q", r.hubLog.atLeast(slog.LevelDebug))
	}
}

// loopbackProxies are the suite's proxies: on 127.0.0.1.
var loopbackProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// trustingProxies is a rig whose Hub and echo handler trust
// X-Forwarded-Host from the suite's proxies on 127.0.0.1.
var trustingProxies = rigOptions{
	hubOptions:    func(o *ws.HubOptions) error { o.Conn.TrustedProxies = loopbackProxies; return nil },
	acceptOptions: func(o *ws.AcceptOptions) error { o.TrustedProxies = loopbackProxies; return nil },
}

// allowingLoopbackOrigins is a rig whose Hub and echo handler allow pages
// of any 127.0.0.1 origin: the public host named in OriginPatterns, as
// examples/PROXIES.md suggests behind a proxy that rewrites Host.
var allowingLoopbackOrigins = rigOptions{
	hubOptions: func(o *ws.HubOptions) error {
		o.Conn.OriginPatterns = []string{"127.0.0.1:*"}
		return nil
	},
	acceptOptions: func(o *ws.AcceptOptions) error {
		o.OriginPatterns = []string{"127.0.0.1:*"}
		return nil
	},
}
