package ws

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
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
				if name == "Close" {
					c.Close(StatusNormalClosure, "bye")
				} else {
					c.CloseNow()
				}
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
