package ws

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/wstest"
)

// TestInflateReadLimitLowered: a handler that lowers its read limit after
// a legitimate compressible message (one of ReadLimit bytes, well past
// maxInflateRatio) reads the small compressed messages that follow; the
// debt of the first may not make the room for the next negative (inflate
// then panicked in slices.Grow).
func TestInflateReadLimitLowered(t *testing.T) {
	freshInflateCredit(t)
	got := make(chan string, 2)
	srv := serve(t, nil, func(c *Conn) {
		defer c.CloseNow()
		for i := range 2 {
			_, data, err := c.Read(context.Background())
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- string(data[:min(len(data), 16)])
			if i == 0 {
				c.setReadLimit(4 << 10)
			}
		}
	})
	c := dial(t, strings.Replace(srv.URL, "http", "ws", 1), offerDeflate)
	first := bytes.Repeat([]byte("a"), defaultReadLimit)
	for _, msg := range [][]byte{first, []byte("hello")} {
		if err := c.WriteFrames(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpText, Masked: true, Payload: deflateBytes(t, msg)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{strings.Repeat("a", 16), "hello"} {
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("read %q, want %q", s, want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("the handler read nothing, waiting for %q", want)
		}
	}
}

// TestInflateReadLimitHuge: a read limit of math.MaxInt64 ("no limit")
// accepts compressed messages: the limits' arithmetic does not overflow
// into a negative limit that refuses everything.
func TestInflateReadLimitHuge(t *testing.T) {
	got := make(chan string, 1)
	srv := serve(t, &AcceptOptions{ReadLimit: math.MaxInt64}, func(c *Conn) {
		defer c.CloseNow()
		_, data, err := c.Read(context.Background())
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(data)
	})
	c := dial(t, strings.Replace(srv.URL, "http", "ws", 1), offerDeflate)
	if err := c.WriteFrames(wstest.Frame{Fin: true, Rsv: 0x40, Op: wstest.OpText, Masked: true, Payload: deflateBytes(t, []byte("hello"))}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("read %q, want %q", s, "hello")
		}
	case <-time.After(waitTimeout):
		t.Fatal("the handler read nothing")
	}
}
