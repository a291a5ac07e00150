package ws

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/wstest"
)

// waitTimeout bounds every wait of these tests for something to happen.
const waitTimeout = 20 * time.Second

// connTimeout bounds all that a test connection from dial reads and
// writes: it only catches a hang, as a loaded machine can take many
// seconds for a test's whole exchange.
const connTimeout = 3 * waitTimeout

// echo is the echo loop of examples/echo.
func echo(c *Conn) {
	for {
		typ, data, err := c.Read(context.Background())
		if err != nil {
			c.CloseNow()
			return
		}
		if c.Send(typ, data) != nil {
			c.CloseNow()
			return
		}
	}
}

// serve starts a test server running handle on every accepted connection.
func serve(t testing.TB, opts *AcceptOptions, handle func(*Conn)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		handle(c)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// dial connects a raw client and fails t unless the upgrade succeeds.
func dial(t testing.TB, url string, h http.Header) *wstest.Conn {
	t.Helper()
	c, resp, err := wstest.Dial(url, h)
	if err != nil {
		t.Fatal(err)
	}
	if c == nil {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	c.SetDeadline(time.Now().Add(connTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// readClose reads frames until a close frame and returns it.
func readClose(t testing.TB, c *wstest.Conn) *wstest.CloseFrame {
	t.Helper()
	for {
		_, _, err := c.ReadMessage()
		if cf, ok := err.(*wstest.CloseFrame); ok {
			return cf
		}
		if err != nil {
			t.Fatalf("waiting for close frame: %v", err)
		}
	}
}

func send(t testing.TB, c *wstest.Conn, op byte, p string) {
	t.Helper()
	if err := c.WriteFrames(wstest.Masked(op, []byte(p))); err != nil {
		t.Fatal(err)
	}
}

// freshInflateCredit gives the server a new inflate credit, none of it
// spent, whose clock stands still, for the rest of the test.
func freshInflateCredit(t testing.TB) *inflateCredit {
	b := newInflateCredit(inflateCreditPerAddr, inflateCreditTotal, inflateCreditPeriod)
	at := time.Now()
	b.now = func() time.Time { return at }
	old := serverCredit.Swap(b)
	t.Cleanup(func() { serverCredit.Store(old) })
	return b
}

// TestMain gives the servers of the tests an inflate credit no test runs
// out of, however many times the tests run: the tests of the credit make
// their own (freshInflateCredit).
func TestMain(m *testing.M) {
	serverCredit.Store(newInflateCredit(1<<40, 1<<40, inflateCreditPeriod))
	os.Exit(m.Run())
}

// current returns the Subscriber's connection, or nil while it reconnects.
func (s *Subscriber) current() *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}
