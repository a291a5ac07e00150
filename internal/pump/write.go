package pump

import (
	"bufio"
	"io"
	"net"
	"sync"
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
