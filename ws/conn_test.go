package ws

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/wstest"
)

func TestCloseStatus(t *testing.T) {
	ce := &CloseError{Code: StatusGoingAway, Reason: "bye"}
	if got := closeStatus(fmt.Errorf("wrapped: %w", ce)); got != StatusGoingAway {
		t.Fatalf("CloseStatus = %v", got)
	}
	if got := closeStatus(errors.New("other")); got != -1 {
		t.Fatalf("CloseStatus of a plain error = %v, want -1", got)
	}
	if s := StatusSlowConsumer.String(); s != "4000 (slow consumer)" {
		t.Fatalf("String = %q", s)
	}
}

// TestPeerClose: the peer's close frame ends Read with its code and reason,
// and is answered with the same code.
func TestPeerClose(t *testing.T) {
	errc := make(chan error, 1)
	srv := serve(t, nil, func(c *Conn) {
		_, _, err := c.Read(context.Background())
		errc <- err
		if _, _, again := c.Read(context.Background()); again != err {
			t.Errorf("second Read: %v, want %v", again, err)
		}
		if err := c.Send(MessageText, []byte("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("Send after close: %v, want ErrClosed", err)
		}
	})
	c := dial(t, srv.URL, nil)
	c.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(4321, "done")))
	if cf := readClose(t, c); cf.Code != 4321 {
		t.Fatalf("close reply %d, want 4321", cf.Code)
	}
	if err := c.ExpectEOF(); err != nil {
		t.Fatal(err)
	}
	c.Close() // the server waits for the end of the stream
	err := <-errc
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4321 || ce.Reason != "done" || ce.local {
		t.Fatalf("Read: %#v, want the peer's CloseError 4321 done", err)
	}
}

// TestServerClose: Close sends the queued messages, then a close frame with
// the code and reason, and completes when the peer answers.
func TestServerClose(t *testing.T) {
	done := make(chan error, 1)
	srv := serve(t, nil, func(c *Conn) {
		c.Send(MessageText, []byte("last words"))
		c.Close(StatusPolicyViolation, "not allowed")
		done <- c.cause()
	})
	c := dial(t, srv.URL, nil)
	op, data, err := c.ReadMessage()
	if err != nil || op != wstest.OpText || string(data) != "last words" {
		t.Fatalf("got %d %q %v", op, data, err)
	}
	cf := readClose(t, c)
	if cf.Code != 1008 || cf.Reason != "not allowed" {
		t.Fatalf("close %d %q", cf.Code, cf.Reason)
	}
	c.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(1008, "")))
	if err := c.ExpectEOF(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-done; closeStatus(err) != StatusPolicyViolation {
		t.Fatalf("Err = %v", err)
	}
	if err := (&Conn{}).validateClose(999); err == nil {
		t.Fatal("close code 999 accepted")
	}
}

// TestKeepAlive: an idle peer is pinged; one that answers stays, one that
// does not is dropped with ErrPongTimeout.
func TestKeepAlive(t *testing.T) {
	errc := make(chan error, 2)
	// The pong timeout leaves the answering peer room on a loaded machine.
	opts := &AcceptOptions{PingInterval: 50 * time.Millisecond, pongTimeout: 3 * time.Second}
	srv := serve(t, opts, func(c *Conn) {
		_, _, err := c.Read(context.Background())
		errc <- err
	})

	// A peer that answers pings.
	good := dial(t, srv.URL, nil)
	goodEnd := make(chan error, 1)
	go func() {
		_, _, err := good.ReadMessage() // answers pings until the close
		goodEnd <- err
	}()

	// A peer that does not.
	bad := dial(t, srv.URL, nil)
	f, err := bad.ReadFrame()
	if err != nil || f.Op != wstest.OpPing {
		t.Fatalf("got %v %v, want a ping", f, err)
	}
	err = <-errc
	if !errors.Is(err, ErrPongTimeout) || closeStatus(err) != StatusPolicyViolation {
		t.Fatalf("silent peer: Read error %v, want ErrPongTimeout", err)
	}
	if cf := readClose(t, bad); cf.Code != int(StatusPolicyViolation) {
		t.Fatalf("silent peer got close %d", cf.Code)
	}
	select {
	case err := <-errc:
		t.Fatalf("the answering peer was dropped too: %v", err)
	default:
	}
	good.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(1000, "")))
	if err, ok := (<-goodEnd).(*wstest.CloseFrame); !ok || err.Code != 1000 {
		t.Fatalf("good peer got %v, want the echo of its close", err)
	}
	good.Close()
	if err := <-errc; closeStatus(err) != StatusNormalClosure {
		t.Fatalf("good peer ended with %v", err)
	}
}

// TestKeepAliveCountsFromPingWrite: the pong timeout counts from the
// ping's write. A ping that waits for the writer (behind frames the peer
// has not taken yet, within WriteTimeout, or for a writer run late on a
// busy machine) does not make the peer late: the keep-alive's check finds
// the pong timeout not yet passed, and the peer gets every message, then
// answers. The test runs the keep-alive's timer function itself, with the
// timer set far off.
func TestKeepAliveCountsFromPingWrite(t *testing.T) {
	leakcheck.Check(t)
	const size = 64 << 10
	const n = 256 // 16 MiB: more than loopback's socket buffers hold
	opts := &AcceptOptions{
		SendBuffer:   n * (size + 16),
		WriteTimeout: waitTimeout,
		PingInterval: time.Hour,
	}
	errc := make(chan error, 1)
	srv := serve(t, opts, func(c *Conn) {
		msg := make([]byte, size)
		for i := range n {
			msg[0] = byte(i)
			if err := c.Send(MessageBinary, msg); err != nil {
				t.Errorf("Send %d: %v", i, err)
				break
			}
		}
		c.keepAliveTick() // pings, behind the frames the peer does not take
		c.keepAliveTick() // checks: the ping is not written, or just now
		_, _, err := c.Read(context.Background())
		errc <- err
	})
	c := dial(t, srv.URL, nil)
	for i := range n {
		op, p, err := c.ReadMessage() // answers pings
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, n, err)
		}
		if op != wstest.OpBinary || len(p) != size || p[0] != byte(i) {
			t.Fatalf("message %d: opcode %d, %d bytes, first %d", i, op, len(p), p[0])
		}
	}
	send(t, c, wstest.OpClose, string(wstest.ClosePayload(1000, "")))
	if err := <-errc; closeStatus(err) != StatusNormalClosure {
		t.Fatalf("server's Read ended with %v, want the peer's close 1000", err)
	}
}

// TestConcurrentSend: sends from many goroutines all arrive, each
// goroutine's in order.
func TestConcurrentSend(t *testing.T) {
	const senders, each = 8, 200
	srv := serve(t, nil, func(c *Conn) {
		var wg sync.WaitGroup
		for g := range senders {
			wg.Go(func() {
				for i := range each {
					if err := c.Send(MessageText, fmt.Appendf(nil, "%d %d", g, i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		c.Read(context.Background())
	})
	c := dial(t, srv.URL, nil)
	next := make([]int, senders)
	for range senders * each {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var g, i int
		fmt.Sscanf(string(data), "%d %d", &g, &i)
		if i != next[g] {
			t.Fatalf("sender %d: message %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
}

// TestSendBufferFull: while a peer does not read, Send says the send
// buffer is full instead of closing a healthy connection, and Write waits
// for room; once the peer reads, it gets every message accepted, in order.
func TestSendBufferFull(t *testing.T) {
	leakcheck.Check(t)
	const size = 64 << 10
	accepted := make(chan int, 1)
	reading := make(chan struct{})
	srv := serve(t, &AcceptOptions{SendBuffer: 4 * size}, func(c *Conn) {
		// Send until the buffer is full, then Write with a short wait
		// until it waits in vain: the socket's buffers take some first.
		n := 0
		for ; n < 100_000; n++ {
			msg := binary.BigEndian.AppendUint32(make([]byte, 0, size), uint32(n))[:size]
			err := c.Send(MessageBinary, msg)
			if errors.Is(err, ErrSendBufferFull) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				err = c.Write(ctx, MessageBinary, msg)
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					break
				}
			}
			if err != nil {
				t.Errorf("message %d: %v", n, err)
				break
			}
		}
		accepted <- n
		<-reading
		if err := c.Write(context.Background(), MessageText, []byte("last")); err != nil {
			t.Errorf("Write once the peer reads: %v", err)
		}
		c.Read(context.Background())
	})
	c := dial(t, srv.URL, nil)
	n := <-accepted
	close(reading)
	for i := range n {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, n, err)
		}
		if got := binary.BigEndian.Uint32(data); got != uint32(i) || len(data) != size {
			t.Fatalf("message %d is number %d of %d bytes", i, got, len(data))
		}
	}
	if _, data, err := c.ReadMessage(); err != nil || string(data) != "last" {
		t.Fatalf("after the accepted messages: %q, %v", data, err)
	}
	c.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(1000, "")))
}

// TestWriteDeadlineClosesSlowPeer: a peer that takes nothing within
// WriteTimeout is closed with StatusSlowConsumer, and Send says so.
func TestWriteDeadlineClosesSlowPeer(t *testing.T) {
	leakcheck.Check(t)
	errc := make(chan error, 1)
	srv := serve(t, &AcceptOptions{WriteTimeout: 200 * time.Millisecond}, func(c *Conn) {
		payload := make([]byte, 64<<10)
		for {
			err := c.Write(context.Background(), MessageBinary, payload)
			if err != nil {
				errc <- err
				return
			}
		}
	})
	dial(t, srv.URL, nil) // never reads
	err := <-errc
	if !errors.Is(err, ErrSlowConsumer) || !errors.Is(err, ErrClosed) {
		t.Fatalf("Write: %v, want ErrClosed and ErrSlowConsumer", err)
	}
}

// TestReadContext: canceling Read's context ends the connection.
func TestReadContext(t *testing.T) {
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	srv := serve(t, nil, func(c *Conn) {
		_, _, err := c.Read(ctx)
		errc <- err
		<-c.closedChan()
	})
	c := dial(t, srv.URL, nil)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v, want context.Canceled", err)
	}
	if err := c.ExpectEOF(); err != nil {
		t.Fatal(err)
	}
}

// TestConnectDisconnectCycles: many connections that come and go, closed
// by either side, leave no goroutine behind.
func TestConnectDisconnectCycles(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	srv := serve(t, nil, echo)
	for i := range 1000 {
		c, _, err := wstest.Dial(srv.URL, nil)
		if err != nil || c == nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(waitTimeout))
		switch i % 3 {
		case 0: // clean close
			c.WriteFrames(wstest.Masked(wstest.OpText, []byte("x")), wstest.Masked(wstest.OpClose, wstest.ClosePayload(1000, "")))
			readClose(t, c)
			if err := c.ExpectEOF(); err != nil {
				t.Fatal(err)
			}
		case 1: // protocol error
			c.WriteFrames(wstest.Frame{Fin: true, Op: 3, Masked: true})
			readClose(t, c)
		case 2: // vanish
		}
		c.Close()
	}
	srv.Close()
}

func TestSendChecks(t *testing.T) {
	errs := make(chan error, 3)
	srv := serve(t, nil, func(c *Conn) {
		errs <- c.Send(MessageText, []byte{0xff})
		errs <- c.Send(MessageType(9), nil)
		errs <- c.Send(MessageText, []byte(`{"n":1}`))
		c.Read(context.Background())
	})
	c := dial(t, srv.URL, nil)
	if err := <-errs; !errors.Is(err, errInvalidUTF8) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if err := <-errs; err == nil {
		t.Fatal("message type 9 sent")
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if op, data, err := c.ReadMessage(); err != nil || op != wstest.OpText || string(data) != `{"n":1}` {
		t.Fatalf("got %d %q %v", op, data, err)
	}
}
