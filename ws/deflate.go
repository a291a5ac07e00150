package ws

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/inflater"
)

// defaultCompressionThreshold is the smallest message payload, in bytes,
// that is compressed on a connection that negotiated compression: smaller
// messages gain little and are sent as they are.
const defaultCompressionThreshold = 512

// compressionLevel is the level of every compressor: the fastest, which
// already shrinks repetitive JSON several times.
const compressionLevel = flate.BestSpeed

// deflateTail ends every compressed message on the wire once it is taken
// off (RFC 7692, section 7.2.1): the empty stored block of a flush.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// inflateTail is what the decompressor reads after a message: the tail the
// sender took off, and an empty final block so that the decompressor ends
// there (RFC 7692, section 7.2.2).
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// compressor is a pooled flate writer with its output buffer. A connection
// borrows one for one message: none is held between messages.
type compressor struct {
	w   *flate.Writer
	out bytes.Buffer
}

// maxPooledOutput is the largest output buffer a pooled compressor keeps.
const maxPooledOutput = 64 << 10

var compressorPool = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, compressionLevel)
	return &compressor{w: w}
}}

// framesCompressed counts the frames compressed, for tests.
var framesCompressed atomic.Uint64

// getCompressor borrows a compressor from the pool.
func getCompressor() *compressor { return compressorPool.Get().(*compressor) }

// release gives z back to the pool; what compress returned is invalid
// from then on.
func (z *compressor) release() {
	z.w.Reset(io.Discard)
	if z.out.Cap() > maxPooledOutput {
		z.out = bytes.Buffer{}
	}
	z.out.Reset()
	compressorPool.Put(z)
}

// compress returns payload p compressed as one message of
// permessage-deflate, its tail taken off, in z's buffer (valid until
// release), or false when it does not shrink.
func (z *compressor) compress(p []byte) ([]byte, bool) {
	framesCompressed.Add(1)
	z.out.Reset()
	z.w.Reset(&z.out)
	z.w.Write(p) // writes to a bytes.Buffer do not fail
	z.w.Flush()
	zp := bytes.TrimSuffix(z.out.Bytes(), deflateTail)
	return zp, len(zp) < len(p)
}

// rsvCompressed is RSV1, the bit of the first frame of a compressed message.
const rsvCompressed = 0x40

// decompressor is a pooled DEFLATE reader with the reader of its input.
type decompressor struct {
	src inflateSource
	fr  *inflater.Decompressor
}

var decompressorPool = sync.Pool{New: func() any {
	d := new(decompressor)
	d.fr = inflater.NewReader(&d.src)
	return d
}}

// inflateSource is the input of a decompressor: a message's compressed
// payload, then inflateTail. It is an io.ByteReader, so the decompressor
// reads it without a buffer of its own and never past the end of the
// DEFLATE data: what it left of the payload is known.
type inflateSource struct {
	p    []byte // the payload
	pos  int    // bytes of p read
	tail int    // bytes of inflateTail read, once p is read
}

func (s *inflateSource) reset(p []byte) { *s = inflateSource{p: p} }

// ReadByte returns the next byte of the payload, then of inflateTail.
func (s *inflateSource) ReadByte() (byte, error) {
	if s.pos < len(s.p) {
		s.pos++
		return s.p[s.pos-1], nil
	}
	if s.tail < len(inflateTail) {
		s.tail++
		return inflateTail[s.tail-1], nil
	}
	return 0, io.EOF
}

// Read reads the payload, then inflateTail.
func (s *inflateSource) Read(b []byte) (int, error) {
	if s.pos < len(s.p) {
		n := copy(b, s.p[s.pos:])
		s.pos += n
		return n, nil
	}
	if s.tail < len(inflateTail) {
		n := copy(b, inflateTail[s.tail:])
		s.tail += n
		return n, nil
	}
	return 0, io.EOF
}

// errInflatedTooBig is the error of inflate for a message that inflates
// past its limit.
var errInflatedTooBig = errors.New("ws: message inflates past the read limit")

// errTrailingData is the error of inflate for a payload with bytes after
// the end of its DEFLATE data (a block with BFINAL set).
var errTrailingData = errors.New("ws: data after the final DEFLATE block")

// blockWork is the work a dynamic Huffman block counts for, in bytes
// produced: building its decoding tables costs about as much CPU as
// inflating 4 KiB. A block with fixed codes counts for fixedBlockWork.
// The first blockWork of a message's blocks is free: one dynamic block, or
// 64 fixed ones, as an ordinary message holds.
const (
	blockWork      = 4 << 10
	fixedBlockWork = 64
)

// errInflateWork is the error of inflateWork for a message that takes more
// work than it was allowed.
var errInflateWork = errors.New("ws: message takes more work to inflate than allowed")

// inflate returns the decompressed message of the compressed payload p
// (the tail taken off, as received), at most limit bytes: a message that
// inflates to more gives errInflatedTooBig as soon as the decompressor
// produced limit+1 bytes, so a compression bomb costs no more than the
// limit. It appends to dst, whose storage it may reuse. Corrupt data gives
// the decompressor's error, and bytes after a final block errTrailingData.
func inflate(dst, p []byte, limit int64) ([]byte, error) {
	out, _, err := inflateWork(dst, p, limit, math.MaxInt64)
	return out, err
}

// inflateWork is inflate that also counts the work of inflating: the bytes
// produced, and blockWork for each dynamic Huffman block but the first
// (fixedBlockWork for a block of fixed codes). It stops with
// errInflateWork once the work passes maxWork, and returns the work done
// whatever the outcome.
func inflateWork(dst, p []byte, limit, maxWork int64) ([]byte, int64, error) {
	d := decompressorPool.Get().(*decompressor)
	defer func() {
		d.src.reset(nil)
		decompressorPool.Put(d)
	}()
	d.src.reset(p)
	d.fr.Reset(&d.src, nil)
	out := dst[:0]
	work := func() int64 { return int64(len(out)) + max(d.fr.BlockCost()-blockWork, 0) }
	for {
		// The blocks may cost what the bytes produced leave of maxWork.
		d.fr.SetBlockCost(fixedBlockWork, blockWork, satAdd(maxWork-int64(len(out)), blockWork))
		if len(out) == cap(out) {
			step := max(cap(out), readGrowStep, 2*len(p))
			// At most limit+1 in all, written so that a limit of
			// math.MaxInt64 does not overflow.
			out = slices.Grow(out, int(min(int64(step)-1, limit-int64(len(out)))+1))
		}
		n, err := d.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		switch {
		case int64(len(out)) > limit && maxWork > limit:
			return nil, work(), errInflatedTooBig
		case work() > maxWork || errors.Is(err, inflater.ErrBlockLimit):
			return nil, work(), errInflateWork
		case int64(len(out)) > limit:
			return nil, work(), errInflatedTooBig
		case err == io.EOF && d.src.pos < len(p):
			return nil, work(), errTrailingData
		case err == io.EOF:
			return out, work(), nil
		case err != nil:
			return nil, work(), err
		}
	}
}

// satAdd returns a+b, or math.MaxInt64 if that overflows (b >= 0).
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// compressedLimit returns the most bytes a message may take on the wire
// when its decompressed size may be limit: a compressed message gets room
// for the few bytes DEFLATE adds to data that does not shrink (5 per
// stored block of up to 64 KiB, and some more). The decompressed size is
// checked while inflating.
func compressedLimit(limit int64, compressed bool) int64 {
	if !compressed {
		return limit
	}
	if slack := limit>>10 + 64; limit <= math.MaxInt64-slack {
		return limit + slack
	}
	return math.MaxInt64 // a limit this high is no limit
}

// reservedBitsReason is the reason of the close for a frame h with
// reserved bits that are not allowed; compress says whether
// permessage-deflate was negotiated.
func reservedBitsReason(h header, compress bool) string {
	switch {
	case !compress || h.rsv != rsvCompressed:
		return "reserved bits set without an extension"
	case h.op >= opClose:
		return "compressed control frame"
	}
	return "RSV1 on a frame that does not start a message"
}

// hubFrame returns the frame of hub message m for this connection: the
// compressed frame, built once per message and shared by every connection
// of the Hub that negotiated compression, or the uncompressed one.
func (c *Conn) hubFrame(m *hub.Message) []byte {
	if !c.compressible(len(m.Data) - builtHeaderSize(len(m.Data))) {
		return m.Data
	}
	return m.Alt(compressShared)
}

// compressShared returns hub frame f, built by the Hub's encoder,
// compressed for every connection that decided to send it compressed (see
// compressible), or f itself when its payload does not shrink: the caller
// checked the threshold and the window, so the result does not depend on
// which connection asks first. The payload is compressed from where the
// encoder put it; the opcode is the frame's first byte.
func compressShared(f []byte) []byte {
	p := f[builtHeaderSize(len(f)):]
	z := getCompressor()
	defer z.release()
	zp, ok := z.compress(p)
	if !ok {
		return f
	}
	out := make([]byte, 0, frameHeaderSize(len(zp))+len(zp))
	return appendFrame(out, f[0]&0x0f|rsvCompressed, zp)
}

// compressible reports whether a message payload of n bytes may be sent
// compressed on this connection: compression was negotiated, the payload
// reaches the threshold, and it fits the window the peer allowed this
// side (every distance within a message is shorter than the message).
func (c *Conn) compressible(n int) bool {
	return c.compress && n > 0 && n >= c.opts.compressionThreshold && (c.window >= 15 || n <= 1<<c.window)
}
