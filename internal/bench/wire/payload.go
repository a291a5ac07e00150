// Package wire holds what the benchmark's servers and load clients agree on:
// the 64-byte message payload that carries a sequence number and the
// server's publish time, and the few WebSocket helpers the raw-TCP floor and
// the raw client share.
package wire

import (
	"errors"
)

// PayloadSize is the size of every benchmark message, in bytes.
const PayloadSize = 64

// ErrBadPayload means a message is not a benchmark payload.
var ErrBadPayload = errors.New("wire: not a benchmark payload")

// Payload writes message seq, published at unixNano, into dst, which must
// hold PayloadSize bytes, and returns dst[:PayloadSize]. The layout is 16
// hex digits of seq, a space, 19 decimal digits of unixNano, a space and
// dots up to PayloadSize: printable ASCII without CR or LF, so it is valid
// UTF-8 text and a single SSE data line.
func Payload(dst []byte, seq uint64, unixNano int64) []byte {
	dst = dst[:PayloadSize]
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		dst[i] = hex[seq&0xf]
		seq >>= 4
	}
	dst[16] = ' '
	n := uint64(unixNano)
	for i := 35; i >= 17; i-- {
		dst[i] = byte('0' + n%10)
		n /= 10
	}
	dst[36] = ' '
	for i := 37; i < PayloadSize; i++ {
		dst[i] = '.'
	}
	return dst
}

// ParsePayload returns the sequence number and publish time that Payload
// wrote into p. It reads the first 36 bytes only.
func ParsePayload(p []byte) (seq uint64, unixNano int64, err error) {
	if len(p) < 36 || p[16] != ' ' {
		return 0, 0, ErrBadPayload
	}
	for _, c := range p[:16] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return 0, 0, ErrBadPayload
		}
		seq = seq<<4 | uint64(v)
	}
	var n uint64
	for _, c := range p[17:36] {
		if c < '0' || c > '9' {
			return 0, 0, ErrBadPayload
		}
		n = n*10 + uint64(c-'0')
	}
	return seq, int64(n), nil
}

// String returns the payload of seq at unixNano as a string, for libraries
// whose publish API takes one.
func String(seq uint64, unixNano int64) string {
	var b [PayloadSize]byte
	return string(Payload(b[:], seq, unixNano))
}
