package reliability

import (
	"net"
	"syscall"
)

// smallBuffers is a dialer whose sockets have small kernel buffers, so
// that a peer that stops reading fills them quickly.
var smallBuffers = &net.Dialer{
	Timeout: waitTimeout,
	Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, smallBufferSize)
			if err == nil {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, smallBufferSize)
			}
		})
		return err
	},
}

// smallBufferSize is the kernel buffer size of smallBuffers' sockets.
const smallBufferSize = 4096
