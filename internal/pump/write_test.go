package pump

import (
	"bytes"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// TestWriteParts: small and large parts, over TCP and another conn, arrive
// whole and in order.
func TestWriteParts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	small := [][]byte{[]byte("a"), []byte("bc"), []byte("def")}
	large := [][]byte{bytes.Repeat([]byte("x"), 5000), bytes.Repeat([]byte("y"), 3000)}
	if vectored(small) || !vectored(large) {
		t.Error("vectored picks the wrong way")
	}
	for _, parts := range [][][]byte{small, large, {[]byte("lone")}} {
		want := string(bytes.Join(parts, nil))
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			b, _ := io.ReadAll(c)
			got <- string(b)
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteParts(c, slices.Clone(parts)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if g := <-got; g != want {
			t.Errorf("tcp: got %d bytes %.20q, want %.20q", len(g), g, want)
		}
		a, b := net.Pipe()
		go func() { WriteParts(a, slices.Clone(parts)); a.Close() }()
		if g, _ := io.ReadAll(b); string(g) != want {
			t.Errorf("pipe: got %.20q", g)
		}
	}
}

// TestWriteThatWouldBlockLeavesThePool: a round on the Pool's only writer
// that writes to a TCP client that does not read leaves the Pool as soon as
// its write would block (the Pool's periodic check is off here), so the
// other pumps' rounds run; the blocked write goes on until its client goes.
// Nothing is timed: the test waits for the other round, bounded only to
// catch a hang.
func TestWriteThatWouldBlockLeavesThePool(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	peer := <-accepted // never reads until the end

	pool := NewPool()
	pool.max = 1
	pool.checking = true // the periodic check never arms: only a write can leave
	defer pool.Close()
	big := [][]byte{bytes.Repeat([]byte("x"), 64<<20)} // more than the socket buffers hold
	wrote := make(chan error, 1)
	var slow, other Pump
	pooled(&slow, pool, func() { wrote <- slow.WriteParts(nc, big, time.Minute) })
	ran := make(chan struct{})
	pooled(&other, pool, func() { close(ran) })
	slow.Wake()
	other.Wake()
	select {
	case <-ran:
	case <-time.After(time.Minute):
		t.Fatal("a write that blocks holds the Pool's only writer")
	}
	peer.Close()
	if err := <-wrote; err == nil {
		t.Error("the blocked write succeeded, though its client went")
	}
}
