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
	if why := EpochProblem(epoch); why != "" {
		return fmt.Errorf("%w: %s", ErrInvalidEpoch, why)
	}
	return nil
}

// EpochProblem returns what keeps epoch from prefixing IDs (see
// ValidEpoch), in words that name no package, or "" if nothing does.
func EpochProblem(epoch string) string {
	switch {
	case epoch == "":
		return "empty"
	case len(epoch) > MaxEpochLength:
		return fmt.Sprintf("%d bytes, at most %d", len(epoch), MaxEpochLength)
	}
	for i := 0; i < len(epoch); i++ {
		if c := epoch[i]; c <= ' ' || c >= 0x7f {
			return fmt.Sprintf("byte %#x at %d is not printable ASCII", c, i)
		}
	}
	return ""
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
// of UTF-8 with no control characters. The error is a *TopicError.
func ValidTopic(name string) error {
	switch {
	case name == "":
		return &TopicError{ErrInvalidTopic, name, "empty name"}
	case len(name) > MaxTopicLength:
		return &TopicError{ErrInvalidTopic, name, fmt.Sprintf("name longer than %d bytes", MaxTopicLength)}
	case !utf8.ValidString(name):
		return &TopicError{ErrInvalidTopic, name, "name is not UTF-8"}
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return &TopicError{ErrInvalidTopic, name, fmt.Sprintf("name holds control character %U", r)}
		}
	}
	return nil
}

// A TopicError is a topic or a list of topics the hub refuses. The sse and
// ws packages turn it into their own errors with OwnTopicError, so that no package
// passes on another's text.
type TopicError struct {
	Err    error  // ErrInvalidTopic or ErrTooManyTopics
	Topic  string // the name refused, for ErrInvalidTopic
	Reason string // what is wrong with it
}

func (e *TopicError) Error() string {
	if e.Err == ErrTooManyTopics {
		return fmt.Sprintf("%v: %s", e.Err, e.Reason)
	}
	return fmt.Sprintf("%v %q: %s", e.Err, e.Topic, e.Reason)
}

func (e *TopicError) Unwrap() error { return e.Err }

// OwnTopicError returns err as a package's own error when it is a *TopicError:
// wrapping invalid or tooMany (the package's sentinels) in place of the
// hub's. Any other err is returned as it is.
func OwnTopicError(err, invalid, tooMany error) error {
	var e *TopicError
	if !errors.As(err, &e) {
		return err
	}
	if e.Err == ErrTooManyTopics {
		return fmt.Errorf("%w: %s", tooMany, e.Reason)
	}
	return fmt.Errorf("%w %q: %s", invalid, e.Topic, e.Reason)
}
