package main

import (
	"errors"
	"fmt"
	"time"
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
	// MessagesPerSecond and MessageBurst bound how fast one session (a
	// page, with all its connections) may send: past them, the server
	// answers with a rate_limited error and drops nothing else.
	// Reconnecting does not reset them.
	MessagesPerSecond = 5
	MessageBurst      = 10
	// AddrMessagesPerSecond and AddrMessageBurst bound how fast all the
	// sessions of one remote address may send and connect together, so
	// that new sessions do not reset the limits either. They are higher
	// than a session's: several people may share an address.
	AddrMessagesPerSecond = 20
	AddrMessageBurst      = 40
	// MaxSessions bounds the sessions the server remembers (and so the
	// nicknames held and the inboxes of direct messages). To make room for
	// a new one, the server forgets sessions with no connection unused for
	// SessionKeep, and the nicknames they held; when there is none, the
	// new session is refused with 1013, and nobody's nickname is freed.
	MaxSessions = 10_000
	// MaxSessionsPerAddr bounds the sessions one remote address made that
	// the server remembers, so that one client cannot fill MaxSessions.
	// Past it, a new session from that address is refused with 1013.
	MaxSessionsPerAddr = 100
	// MaxAddrs bounds the remote addresses whose budget is kept; those
	// whose budget is full again are forgotten first.
	MaxAddrs = 10_000
	// MaxRooms bounds the rooms in use on the server: rooms someone is in,
	// or used within roomForget. Past it, joining a new room gets a
	// rooms_full error.
	MaxRooms = 1000
	// MaxConnsPerAddr bounds the WebSocket connections and feed streams
	// one remote address holds at once (each tab holds one of each), so
	// that one client cannot take every slot of the server.
	MaxConnsPerAddr = 32
	// MaxRoomsPerAddr bounds the rooms of MaxRooms that one remote address
	// opened (was the first in), so that one client cannot take them all.
	MaxRoomsPerAddr = 50
	// MaxMembersListed bounds the nicknames of one room sent to a page
	// when it enters the room; the page also gets the count, and keeps
	// both up to date with presence events.
	MaxMembersListed = 100
)

// SessionKeep is how long a session with no connection keeps its
// nickname and inbox for sure: a session used within SessionKeep is never
// forgotten to make room for another.
const SessionKeep = 24 * time.Hour

// roomForget is how long a room nobody is in still counts against
// MaxRooms: as long as the hub keeps its history.
const roomForget = 10 * time.Minute // HubOptions.HistoryAge's default

// Errors of the chat rules. The page shows their text as it is.
var (
	errBadNick      = fmt.Errorf("a nickname is 1 to %d letters, digits, _ or -", MaxNickLength)
	errBadRoom      = fmt.Errorf("a room name is 1 to %d lowercase letters, digits or -, starting with a letter or digit", MaxRoomLength)
	errEmpty        = errors.New("the message is empty")
	errTooLong      = fmt.Errorf("a message is at most %d characters", MaxMessageRunes)
	errTooMany      = fmt.Errorf("you can be in at most %d rooms at once", MaxRoomsPerConn)
	errNotInRoom    = errors.New("join the room before writing to it")
	errRateLimited  = fmt.Errorf("slow down: at most %d messages a second", MessagesPerSecond)
	errNoSession    = errors.New("no session: load the chat page, which gives one")
	errNickTaken    = errors.New("this nickname is taken by someone else: pick another")
	errOtherNick    = errors.New("this session is connected with another nickname: close its other connections first")
	errUnknownNick  = errors.New("nobody has this nickname here")
	errRoomsFull    = fmt.Errorf("this server has %d rooms in use: join one of them", MaxRooms)
	errRoomsByAddr  = fmt.Errorf("your address opened %d rooms lately: join one that exists", MaxRoomsPerAddr)
	errNotIssued    = errors.New("this session was not issued by this server: reload the page for a new one")
	errSessionsFull = fmt.Errorf("this server holds %d sessions, all in use lately: try again later", MaxSessions)
	errSessionsAddr = fmt.Errorf("your address holds %d sessions, all in use lately: use a tab you have open, or try again later", MaxSessionsPerAddr)
	errReconnecting = errors.New("too many connections from your address: try again in a moment")
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
