package ws

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
)

// TestCloseWhileWriteWaits: a Write waiting for room in the send buffer of
// a peer that does not read returns ErrClosed once the connection is
// closed, by Close or CloseNow, instead of waiting on.
func TestCloseWhileWriteWaits(t *testing.T) {
	for _, name := range []string{"Close", "CloseNow"} {
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			const size = 64 << 10
			errc := make(chan error, 1)
			srv := serve(t, &AcceptOptions{SendBuffer: size, WriteTimeout: -1}, func(c *Conn) {
				waiting := make(chan error, 1)
				full := make(chan struct{})
				go func() {
					msg := make([]byte, size)
					for {
						ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
						err := c.Write(ctx, MessageBinary, msg)
						cancel()
						if errors.Is(err, context.DeadlineExceeded) {
							break // the buffer is full: the peer does not read
						}
						if err != nil {
							waiting <- err
							return
						}
					}
					close(full)
					waiting <- c.Write(context.Background(), MessageBinary, msg)
				}()
				// Close while the last Write waits (or just before it
				// starts: it must then fail at once).
				select {
				case <-full:
				case err := <-waiting:
					errc <- err
					return
				}
				// Close waits for the peer's close frame, which a peer
				// that does not read never sends: it runs beside the wait
				// for the Write, and the CloseNow below ends it.
				closed := make(chan struct{})
				if name == "Close" {
					go func() {
						defer close(closed)
						c.Close(StatusNormalClosure, "bye")
					}()
				} else {
					c.CloseNow()
					close(closed)
				}
				defer func() { <-closed }()
				select {
				case err := <-waiting:
					errc <- err
				case <-time.After(10 * time.Second):
					errc <- errors.New("Write still waits 10s after the close")
				}
				c.CloseNow()
			})
			c := dial(t, srv.URL, nil) // never reads
			defer c.Close()
			if err := <-errc; !errors.Is(err, ErrClosed) {
				t.Fatalf("Write after %s: %v, want ErrClosed", name, err)
			}
		})
	}
}

// TestHubOnConnectPanic: a panic in OnConnect closes that connection with
// statusInternalError and gives back its slot, as one in OnMessage does,
// instead of leaving it open with nobody reading it and Shutdown waiting
// for it.
func TestHubOnConnectPanic(t *testing.T) {
	leakcheck.Check(t)
	h, srv := serveHub(t, HubOptions{
		OnConnect: func(_ *Member, r *http.Request) {
			if r.URL.Query().Get("boom") != "" {
				panic("boom")
			}
		},
		Conn: AcceptOptions{Logger: slog.New(slog.DiscardHandler)},
	})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	c := dial(t, srv.URL+"?boom=1", nil)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	if cf := readClose(t, c); cf.Code != int(statusInternalError) {
		t.Fatalf("close %d %q, want 1011", cf.Code, cf.Reason)
	}
	c.WriteFrames(wstest.Masked(wstest.OpClose, wstest.ClosePayload(1011, "")))
	c.Close() // the closing handshake is done: the server need not wait for it
	waitfor.Cond(t, "the slot given back", waitTimeout, func() bool { return h.Stats().Clients == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestCloseAfterSlowWrite: a close queued behind data that the peer takes
// late, but within WriteTimeout, is written after that data, and the
// closing handshake's timeout counts from its write: the peer gets every
// message and then the close frame, not the end of the TCP connection
// (as when a busy machine runs the writer late, as in a Hub's Shutdown).
func TestCloseAfterSlowWrite(t *testing.T) {
	leakcheck.Check(t)
	const size = 64 << 10
	const n = 256 // 16 MiB: more than loopback's socket buffers hold
	srv := serve(t, &AcceptOptions{SendBuffer: n * (size + 16), WriteTimeout: waitTimeout}, func(c *Conn) {
		msg := make([]byte, size)
		for i := range n {
			msg[0] = byte(i)
			if err := c.Send(MessageBinary, msg); err != nil {
				t.Errorf("Send %d: %v", i, err)
				break
			}
		}
		c.Close(StatusGoingAway, "bye")
	})
	c := dial(t, srv.URL, nil)
	// The server's writer waits on the peer's full socket buffers, and its
	// close behind it, for longer than the closing handshake may take.
	time.Sleep(defaultCloseTimeout + time.Second)
	for i := range n {
		op, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, n, err)
		}
		if op != wstest.OpBinary || len(p) != size || p[0] != byte(i) {
			t.Fatalf("message %d: opcode %d, %d bytes, first %d", i, op, len(p), p[0])
		}
	}
	if cf := readClose(t, c); cf.Code != int(StatusGoingAway) {
		t.Fatalf("close %d, want %d", cf.Code, StatusGoingAway)
	}
}
