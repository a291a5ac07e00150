package ws

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

// TestPingWithoutRead: Ping works on a connection nobody reads: it reads
// the control frames itself up to its pong. A message that comes before
// the pong is left for Read, and the Read after it sees the pong. A Ping
// whose context ends while it reads leaves the connection fit for use.
func TestPingWithoutRead(t *testing.T) {
	leakcheck.Check(t)
	var pings atomic.Int32
	srv := rawServer(t, func(c *wstest.Conn) {
		for {
			f, err := c.ReadFrame()
			if err != nil {
				return
			}
			switch f.Op {
			case wstest.OpPing:
				switch pings.Add(1) {
				case 4: // a message first, then the pong
					c.WriteFrames(unmasked(wstest.OpText, "hello"), unmasked(wstest.OpPong, string(f.Payload)))
				case 6: // no answer
				default:
					c.WriteFrames(unmasked(wstest.OpPong, string(f.Payload)))
				}
			case wstest.OpText:
				c.WriteFrames(unmasked(wstest.OpText, string(f.Payload)), unmasked(wstest.OpPing, "k"))
			case wstest.OpClose:
				c.WriteFrames(unmasked(wstest.OpClose, string(f.Payload[:min(2, len(f.Payload))])))
				return
			}
		}
	})
	ctx := dialCtx(t)
	c, err := Dial(ctx, srv.URL, &DialOptions{PingInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for i := range 3 {
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("Ping %d with no Read: %v", i+1, err)
		}
	}
	pinged := make(chan error, 1)
	go func() { pinged <- c.Ping(ctx) }()
	if _, p, err := c.Read(ctx); err != nil || string(p) != "hello" {
		t.Fatalf("Read = %q, %v; want the message that came before the pong", p, err)
	}
	if err := c.Send(MessageText, []byte("echo me")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.Read(ctx); err != nil || string(p) != "echo me" {
		t.Fatalf("Read = %q, %v", p, err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("Ping with a message before its pong: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping 5: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.Ping(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping the server does not answer: %v, want context.DeadlineExceeded", err)
	}
	// The connection goes on: a message sent comes back, with a ping from
	// the server that Ping answers on its way to its own pong.
	if err := c.Send(MessageText, []byte("still there")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.Read(ctx); err != nil || string(p) != "still there" {
		t.Fatalf("Read = %q, %v", p, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping 7: %v", err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// TestPingWithReadWaiting: a Ping that reads while a Read waits for the
// connection hands a message that comes first to that Read and goes on
// waiting for its pong.
func TestPingWithReadWaiting(t *testing.T) {
	leakcheck.Check(t)
	srv := rawServer(t, func(c *wstest.Conn) {
		for {
			f, err := c.ReadFrame()
			if err != nil {
				return
			}
			switch f.Op {
			case wstest.OpPing:
				c.WriteFrames(unmasked(wstest.OpText, "first"), unmasked(wstest.OpPong, string(f.Payload)))
			case wstest.OpClose:
				c.WriteFrames(unmasked(wstest.OpClose, string(f.Payload[:min(2, len(f.Payload))])))
				return
			}
		}
	})
	ctx := dialCtx(t)
	c, err := Dial(ctx, srv.URL, &DialOptions{PingInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	got := make(chan string, 4)
	go func() {
		for {
			_, p, err := c.Read(ctx)
			if err != nil {
				close(got)
				return
			}
			got <- string(p)
		}
	}()
	for i := range 3 {
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("Ping %d: %v", i+1, err)
		}
		if p := <-got; p != "first" {
			t.Fatalf("Read got %q", p)
		}
	}
	c.Close(StatusNormalClosure, "")
}

// TestPingConcurrent: Pings from several goroutines on a connection nobody
// reads all get their pongs: when the one reading stops at its own pong,
// another reads on for its.
func TestPingConcurrent(t *testing.T) {
	leakcheck.Check(t)
	srv := rawServer(t, func(c *wstest.Conn) {
		for {
			f, err := c.ReadFrame()
			if err != nil {
				return
			}
			switch f.Op {
			case wstest.OpPing:
				c.WriteFrames(unmasked(wstest.OpPong, string(f.Payload)))
			case wstest.OpClose:
				c.WriteFrames(unmasked(wstest.OpClose, string(f.Payload[:min(2, len(f.Payload))])))
				return
			}
		}
	})
	ctx := dialCtx(t)
	c, err := Dial(ctx, srv.URL, &DialOptions{PingInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	errs := make(chan error, 4*20)
	for range 4 {
		go func() {
			for range 20 {
				errs <- c.Ping(ctx)
			}
		}()
	}
	for range 4 * 20 {
		if err := <-errs; err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}
	c.Close(StatusNormalClosure, "")
}
