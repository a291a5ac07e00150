//go:build linux

package netopt

import (
	"net"
	"testing"
	"time"
)

func TestSetUserTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := SetUserTimeout(c, 2500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got, err := UserTimeout(c)
	if err != nil {
		t.Fatal(err)
	}
	if got != 2500*time.Millisecond {
		t.Errorf("user timeout = %v, want 2.5s", got)
	}
	// A pipe is not TCP: nothing to set, no error.
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if err := SetUserTimeout(p1, time.Second); err != nil {
		t.Errorf("pipe: %v", err)
	}
}
