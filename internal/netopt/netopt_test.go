//go:build linux

package netopt

import (
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
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

// TestNotSentLowat: a server writes to a peer that does not read, as fast
// as the kernel takes it. With the option, what the kernel holds for the
// connection stops near NotSentLowat; without it, the kernel grows the
// send buffer to megabytes.
func TestNotSentLowat(t *testing.T) {
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
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := SetNotSentLowat(s, NotSentLowat); err != nil {
		t.Fatal(err)
	}
	queued := fill(t, s.(*net.TCPConn), 8<<20)
	// Besides NotSentLowat, the kernel may hold the segment it was
	// building when the mark was passed (64 KiB on loopback) and what the
	// peer's receive window let it send, unacknowledged.
	const bound = NotSentLowat + 128<<10
	t.Logf("the kernel holds %d bytes written to a peer that does not read (bound %d)", queued, bound)
	if queued > bound {
		t.Errorf("the kernel holds %d bytes for a peer that does not read, want at most %d", queued, bound)
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if err := SetNotSentLowat(p1, NotSentLowat); err != nil {
		t.Errorf("pipe: %v", err)
	}
}

// fill writes up to n bytes to c without blocking, until the kernel takes
// no more, and returns what the kernel holds for c then: written and not
// acknowledged by the peer (SIOCOUTQ).
func fill(t *testing.T, c *net.TCPConn, n int) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	var queued int32
	var werr error
	if err := raw.Control(func(fd uintptr) {
		for sent := 0; sent < n; {
			k, err := syscall.Write(int(fd), buf)
			if err == syscall.EAGAIN {
				break
			}
			if err != nil {
				werr = err
				return
			}
			sent += k
		}
		const siocoutq = 0x5411 // TIOCOUTQ
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, siocoutq, uintptr(unsafe.Pointer(&queued))); errno != 0 {
			werr = errno
		}
	}); err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	return int(queued)
}
