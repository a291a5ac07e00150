package ws

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/realtime-go/realtime/internal/wstest"
)

// TestTinyFrames sends a message as 65,536 fragments of one byte each: the
// server must spend on it in proportion to the bytes received, not
// allocate for every frame. The budget is two bytes allocated per byte on
// the wire, with room for the test's own noise: reading the message itself
// takes about a sixth of it (x/net's frame reader took 24 per byte).
func TestTinyFrames(t *testing.T) {
	const n = 64 << 10
	got := make(chan []byte, 1)
	srv := serve(t, nil, func(c *Conn) {
		_, m, err := c.Read(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- m
		c.CloseNow()
	})
	c, _, err := wstest.Dial(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wire []byte
	for i := range n {
		op := byte(wstest.OpContinuation)
		if i == 0 {
			op = wstest.OpText
		}
		wire = append(wire, wstest.Encode(wstest.Frame{Fin: i == n-1, Op: op, Masked: true, Payload: []byte{'a' + byte(i%26)}})...)
	}
	want := make([]byte, n)
	for i := range want {
		want[i] = 'a' + byte(i%26)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	m := <-got
	runtime.ReadMemStats(&after)
	if !bytes.Equal(m, want) {
		t.Fatalf("message of %d bytes, not the %d sent", len(m), n)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d frames, %d bytes on the wire: %d bytes allocated in %d allocations", n, len(wire), allocated, after.Mallocs-before.Mallocs)
	if allocated > 2*uint64(len(wire)) {
		t.Errorf("%d bytes allocated for %d bytes received: over two per byte", allocated, len(wire))
	}
}
