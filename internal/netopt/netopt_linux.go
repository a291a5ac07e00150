package netopt

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// tcpUserTimeout is TCP_USER_TIMEOUT from linux/tcp.h, which the syscall
// package does not name.
const tcpUserTimeout = 0x12

// tcpNotSentLowat is TCP_NOTSENT_LOWAT from linux/tcp.h.
const tcpNotSentLowat = 25

func setNotSentLowat(c *net.TCPConn, n int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netopt: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, n)
	}); err != nil {
		return fmt.Errorf("netopt: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("netopt: set TCP_NOTSENT_LOWAT: %w", serr)
	}
	return nil
}

func setUserTimeout(c *net.TCPConn, d time.Duration) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netopt: %w", err)
	}
	ms := max(int(d.Milliseconds()), 1)
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, ms)
	}); err != nil {
		return fmt.Errorf("netopt: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("netopt: set TCP_USER_TIMEOUT: %w", serr)
	}
	return nil
}

func userTimeout(c *net.TCPConn) (time.Duration, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("netopt: %w", err)
	}
	var ms int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		ms, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout)
	}); err != nil {
		return 0, fmt.Errorf("netopt: %w", err)
	}
	if gerr != nil {
		return 0, fmt.Errorf("netopt: get TCP_USER_TIMEOUT: %w", gerr)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func notSentLowat(c *net.TCPConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("netopt: %w", err)
	}
	var n int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		n, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat)
	}); err != nil {
		return 0, fmt.Errorf("netopt: %w", err)
	}
	if gerr != nil {
		return 0, fmt.Errorf("netopt: get TCP_NOTSENT_LOWAT: %w", gerr)
	}
	if n < 0 { // -1 (UINT_MAX): none
		n = 0
	}
	return n, nil
}

func readAvailable(c *net.TCPConn, p []byte) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("netopt: %w", err)
	}
	var n int
	var rerr error
	// Returning true ends the call after one attempt, even when the
	// non-blocking socket had nothing to read.
	if err := raw.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), p)
		return true
	}); err != nil {
		return 0, fmt.Errorf("netopt: %w", err)
	}
	switch {
	case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EINTR):
		return 0, nil
	case rerr != nil:
		return 0, fmt.Errorf("netopt: read: %w", rerr)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}
