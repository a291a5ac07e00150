package hub

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// MaxTopicLength is the longest topic name, in bytes.
	MaxTopicLength = 256

	// MaxIDLength is the longest ID that ParseID accepts, in bytes.
	MaxIDLength = 64

	// MaxEpochLength is the longest epoch, in bytes: it leaves room in an
	// ID of MaxIDLength bytes for "-" and the 20 digits of the largest
	// sequence number.
	MaxEpochLength = MaxIDLength - 21
)

// ErrInvalidEpoch means an epoch could not stand in an ID.
var ErrInvalidEpoch = errors.New("hub: invalid epoch")

// ValidEpoch reports whether epoch can prefix IDs: 1 to MaxEpochLength
// bytes of printable ASCII other than space. Anything else could not be
// sent or read back as it is (an SSE id line ends at CR or LF, and an ID
// longer than MaxIDLength is refused by ParseID). The error wraps
// ErrInvalidEpoch.
func ValidEpoch(epoch string) error {
	switch {
	case epoch == "":
		return fmt.Errorf("%w: empty", ErrInvalidEpoch)
	case len(epoch) > MaxEpochLength:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidEpoch, len(epoch), MaxEpochLength)
	}
	for i := 0; i < len(epoch); i++ {
		if c := epoch[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: byte %#x at %d is not printable ASCII", ErrInvalidEpoch, c, i)
		}
	}
	return nil
}

// NewEpoch returns a random epoch of 8 URL-safe characters.
func NewEpoch() string {
	var b [6]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// FormatID returns the ID of sequence number seq in epoch.
func FormatID(epoch string, seq uint64) string {
	return epoch + "-" + strconv.FormatUint(seq, 10)
}

// ParseID splits an ID made by FormatID. It reports false for anything else,
// including IDs longer than MaxIDLength. Sequence number 0 is valid: the ID
// "epoch-0" stands before the first message, so a client that resumes from
// it asks for everything the history holds.
func ParseID(id string) (epoch string, seq uint64, ok bool) {
	if len(id) > MaxIDLength {
		return "", 0, false
	}
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id[:i], seq, true
}

// ValidTopic reports whether name can be a topic: 1 to MaxTopicLength bytes
// of UTF-8 with no control characters. The error wraps ErrInvalidTopic.
func ValidTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidTopic)
	case len(name) > MaxTopicLength:
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalidTopic, MaxTopicLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: name is not UTF-8", ErrInvalidTopic)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: name holds control character %U", ErrInvalidTopic, r)
		}
	}
	return nil
}
