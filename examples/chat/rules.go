package main

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Bounds of the chat. Each one is checked on the server; the page checks
// some of them too, only to answer sooner.
const (
	// MaxNickLength is the longest nickname, in bytes (ASCII only).
	MaxNickLength = 24
	// MaxRoomLength is the longest room name, in bytes (ASCII only).
	MaxRoomLength = 32
	// MaxMessageRunes is the longest message text, in characters.
	MaxMessageRunes = 1000
	// MaxRoomsPerConn is how many rooms one connection may be in at once.
	MaxRoomsPerConn = 16
	// MaxFrameBytes is the WebSocket read limit: a message longer than
	// this closes the connection with 1009 (message too big) before the
	// server reads it all.
	MaxFrameBytes = 32 << 10
	// MessagesPerSecond and MessageBurst bound how fast one connection may
	// send: past them, the server answers with a rate_limited error and
	// drops nothing else.
	MessagesPerSecond = 5
	MessageBurst      = 10
)

// Errors of the chat rules. The page shows their text as it is.
var (
	errBadNick     = fmt.Errorf("a nickname is 1 to %d letters, digits, _ or -", MaxNickLength)
	errBadRoom     = fmt.Errorf("a room name is 1 to %d lowercase letters, digits or -, starting with a letter or digit", MaxRoomLength)
	errEmpty       = errors.New("the message is empty")
	errTooLong     = fmt.Errorf("a message is at most %d characters", MaxMessageRunes)
	errTooMany     = fmt.Errorf("you can be in at most %d rooms at once", MaxRoomsPerConn)
	errNotInRoom   = errors.New("join the room before writing to it")
	errRateLimited = fmt.Errorf("slow down: at most %d messages a second", MessagesPerSecond)
)

// The rules of validNick and validRoom as regular expressions, for the
// pages, which check them before asking the server.
var (
	nickPattern = fmt.Sprintf(`^[A-Za-z0-9_-]{1,%d}$`, MaxNickLength)
	roomPattern = fmt.Sprintf(`^[a-z0-9][a-z0-9-]{0,%d}$`, MaxRoomLength-1)
)

// validNick reports whether s can be a nickname.
func validNick(s string) bool {
	if s == "" || len(s) > MaxNickLength {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validRoom reports whether s can be a room name.
func validRoom(s string) bool {
	if s == "" || len(s) > MaxRoomLength || s[0] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkText reports whether s can be sent as a message.
func checkText(s string) error {
	n := utf8.RuneCountInString(s)
	switch {
	case n > MaxMessageRunes:
		return fmt.Errorf("%w: this one has %d", errTooLong, n)
	case isBlank(s):
		return errEmpty
	}
	return nil
}

func isBlank(s string) bool {
	for _, r := range s {
		if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}
