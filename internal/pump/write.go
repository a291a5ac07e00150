package pump

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// writeBufferSize is the size of the pooled buffers WriteParts joins small
// parts in. Larger parts are written from their own storage.
const writeBufferSize = 32 << 10

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}

// minVectoredPart is the average size of the parts of a batch from which
// WriteParts writes them with writev rather than joining them: below it,
// copying them costs less than the kernel's work per buffer.
const minVectoredPart = 1 << 10

// WriteParts writes parts to conn in order, as one batch: a lone part as
// it is; on a TCP connection, parts that are large on average with one
// writev of their own storage (shared frames are not copied); otherwise
// joined in a pooled buffer, which costs less than the kernel's work per
// buffer when parts are small, and makes one record over TLS (and one
// call of an http.ResponseWriter's Write, each of which costs a lock and
// a check in net/http). It may change the elements of parts (not the
// bytes they hold).
func WriteParts(conn io.Writer, parts [][]byte) error {
	if len(parts) == 1 {
		_, err := conn.Write(parts[0])
		return err
	}
	if _, ok := conn.(*net.TCPConn); ok && vectored(parts) {
		bufs := net.Buffers(parts)
		_, err := bufs.WriteTo(conn)
		return err
	}
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(conn)
	for _, p := range parts {
		bw.Write(p)
	}
	err := bw.Flush()
	bw.Reset(nil)
	writerPool.Put(bw)
	return err
}

// vectored reports whether parts are large enough, on average, to be
// written with writev.
func vectored(parts [][]byte) bool {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n >= minVectoredPart*len(parts)
}

// partsPool holds the slices of parts that writers fill for one batch, so
// that a busy connection reuses them and an idle one holds none.
var partsPool = sync.Pool{New: func() any { p := make([][]byte, 0, 64); return &p }}

// maxPooledParts is the largest slice of parts PutParts keeps.
const maxPooledParts = 1 << 14

// GetParts returns an empty slice of parts from a pool.
func GetParts() *[][]byte { return partsPool.Get().(*[][]byte) }

// PutParts clears p and returns it to the pool, unless it grew too large.
func PutParts(p *[][]byte) {
	clear((*p)[:cap(*p)])
	if cap(*p) <= maxPooledParts {
		*p = (*p)[:0]
		partsPool.Put(p)
	}
}

// WriteHandoff is how long a write on a writer of a Pool waits for a TCP
// client to take bytes before the writer leaves the Pool (another takes
// its place) and the write goes on, on the goroutine that is now the
// connection's own, until the write's own deadline. A client that reads
// takes the bytes at once: a write waits only when the socket's buffers
// are full.
const WriteHandoff = time.Millisecond

// WriteParts writes parts to conn as the function WriteParts does, under a
// deadline timeout from now (none if 0). When the round runs on a writer
// of a Pool and conn is a TCP connection, a write that would block first
// leaves the Pool (see WriteHandoff), so that a client that does not read
// never holds a writer others need. p may be nil.
func (p *Pump) WriteParts(conn net.Conn, parts [][]byte, timeout time.Duration) error {
	tcp, ok := conn.(*net.TCPConn)
	if p == nil || p.writer == nil || !ok || (timeout > 0 && timeout <= WriteHandoff) {
		if timeout > 0 {
			conn.SetWriteDeadline(time.Now().Add(timeout))
		}
		return WriteParts(conn, parts)
	}
	start := time.Now()
	tcp.SetWriteDeadline(start.Add(WriteHandoff))
	var joined *[]byte
	bufs := net.Buffers(parts)
	if len(parts) > 1 && !vectored(parts) {
		joined = joinPool.Get().(*[]byte)
		b := (*joined)[:0]
		for _, part := range parts {
			b = append(b, part...)
		}
		*joined = b
		bufs = net.Buffers{b}
	}
	_, err := bufs.WriteTo(tcp)
	if errors.Is(err, os.ErrDeadlineExceeded) && len(bufs) > 0 {
		p.pool.countOut(p.writer)
		var deadline time.Time
		if timeout > 0 {
			deadline = start.Add(timeout)
		}
		tcp.SetWriteDeadline(deadline)
		_, err = bufs.WriteTo(tcp)
	} else if timeout == 0 {
		tcp.SetWriteDeadline(time.Time{}) // as asked: no deadline
	}
	if joined != nil {
		if cap(*joined) <= writeBufferSize {
			*joined = (*joined)[:0]
			joinPool.Put(joined)
		}
	}
	return err
}

// joinPool holds the buffers Pump.WriteParts joins small parts in.
var joinPool = sync.Pool{New: func() any { b := make([]byte, 0, writeBufferSize); return &b }}
