package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/realtime-go/realtime/internal/examplecmd"
)

// Sessions. A page gets a session token from the server when it loads and
// keeps it for the tab (sessionStorage), so that a reload is the same
// person and two tabs can be two people. The token travels with the
// WebSocket request. The server issues tokens and signs them with a key
// made at the first start and kept in the state file, so that a token the
// server did not issue is refused, and one it issued still works after a
// restart. The server binds a nickname to the first session that uses it,
// and sends a direct message to that session's inbox, a topic named after
// a hash of the token: a page that claims someone's nickname gets neither
// the nickname nor their messages, and the token never appears in a
// topic, an ID or a log.
//
// Rate limits apply per session and per remote address, so reconnecting,
// with the same token or a new one, does not reset them. Sessions are
// bounded per remote address and in all, and a session used within
// SessionKeep is never forgotten to make room for another: a flood of new
// sessions gets refused, and frees nobody's nickname.

// sessionTokenBytes is the size of a session token before encoding: a
// random part, then the first bytes of its HMAC-SHA256 under the chat's
// key.
const (
	sessionTokenBytes = 32
	sessionRandBytes  = 16
	sessionKeyBytes   = 32
)

// newSessionKey returns a new random key to sign session tokens with.
func newSessionKey() []byte {
	key := make([]byte, sessionKeyBytes)
	rand.Read(key) // never fails
	return key
}

// newSessionToken returns a new session token signed with key.
func newSessionToken(key []byte) string {
	var id [sessionRandBytes]byte
	rand.Read(id[:]) // never fails
	return signSession(key, id[:])
}

// signSession returns the session token of the random part id, signed
// with key.
func signSession(key, id []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(id)
	b := mac.Sum(append([]byte(nil), id...))[:sessionTokenBytes]
	return base64.RawURLEncoding.EncodeToString(b)
}

// validSessionToken reports whether s has the form of a session token.
func validSessionToken(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == sessionTokenBytes
}

// issuedSession reports whether the session token s was signed with key,
// that is, issued by this server.
func issuedSession(key []byte, s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != sessionTokenBytes {
		return false
	}
	want, _ := base64.RawURLEncoding.DecodeString(signSession(key, b[:sessionRandBytes]))
	return hmac.Equal(b, want)
}

// inboxTopic returns the topic of the direct messages of the session with
// token: "@" and a hash of it.
func inboxTopic(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "@" + hex.EncodeToString(sum[:16])
}

// validInbox reports whether s has the form of an inbox topic.
func validInbox(s string) bool {
	if len(s) != 33 || s[0] != '@' {
		return false
	}
	_, err := hex.DecodeString(s[1:])
	return err == nil
}

// A session is one page's identity: its nickname, its inbox and its send
// budget, shared by all its connections.
type session struct {
	inbox    string // the topic of its direct messages
	addr     string // the remote address that made it, "" for one loaded from the state file
	nick     string // "" until a connection binds one
	conns    int    // open connections
	lastUsed time.Time
	limit    limiter
}

// An addrLimit is the send budget of one remote address.
type addrLimit struct {
	limit    limiter
	lastUsed time.Time
}

// clientAddr returns the address the client of r counts under for the
// bounds per remote address (see examplecmd.ClientAddr).
func (c *chat) clientAddr(r *http.Request) string {
	return examplecmd.ClientAddr(r, c.trusted)
}

// A limiter is a token bucket: burst messages at once, refilled at rate
// per second.
type limiter struct {
	tokens float64
	last   time.Time
}

// allow takes a token if there is one.
func (l *limiter) allow(now time.Time, rate, burst float64) bool {
	if l.last.IsZero() {
		l.tokens = burst
	} else {
		l.tokens = min(burst, l.tokens+now.Sub(l.last).Seconds()*rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
