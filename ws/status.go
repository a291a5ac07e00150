package ws

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// A StatusCode is the code of a close frame (RFC 6455, section 7.4).
type StatusCode int

// Close codes this package sends or recognises. Codes 3000-3999 are
// registered with IANA by libraries and frameworks and 4000-4999 are for
// applications; both may be sent with [Conn.Close] and are accepted from
// peers.
const (
	StatusNormalClosure   StatusCode = 1000 // the purpose of the connection was fulfilled
	StatusGoingAway       StatusCode = 1001 // the server shuts down (Hub.Shutdown) or the peer leaves
	statusProtocolError   StatusCode = 1002 // the peer broke RFC 6455
	statusUnsupportedData StatusCode = 1003 // a message of a type the receiver cannot take

	// statusNoStatusRcvd is never sent: it is the code of a CloseError for a
	// close frame without a code.
	statusNoStatusRcvd StatusCode = 1005
	// statusAbnormalClosure is never sent: it is the code of a CloseError for
	// a connection that ended without a close frame.
	statusAbnormalClosure StatusCode = 1006

	statusInvalidFramePayloadData StatusCode = 1007 // a text message that is not UTF-8
	StatusPolicyViolation         StatusCode = 1008 // a policy was broken, such as the keep-alive
	StatusMessageTooBig           StatusCode = 1009 // a message over the read limit
	statusMandatoryExtension      StatusCode = 1010 // the client wanted an extension
	statusInternalError           StatusCode = 1011 // the server failed
	statusServiceRestart          StatusCode = 1012 // the server restarts
	StatusTryAgainLater           StatusCode = 1013 // the server is overloaded
	statusBadGateway              StatusCode = 1014 // a gateway got a bad answer

	// StatusSlowConsumer is this package's application code for a peer that
	// did not read: a write to it did not finish within the write timeout,
	// so it was closed rather than let it hold the server's memory. A
	// client seeing it should reconnect and resume.
	StatusSlowConsumer StatusCode = 4000
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:           "normal closure",
	StatusGoingAway:               "going away",
	statusProtocolError:           "protocol error",
	statusUnsupportedData:         "unsupported data",
	statusNoStatusRcvd:            "no status",
	statusAbnormalClosure:         "abnormal closure",
	statusInvalidFramePayloadData: "invalid payload data",
	StatusPolicyViolation:         "policy violation",
	StatusMessageTooBig:           "message too big",
	statusMandatoryExtension:      "mandatory extension",
	statusInternalError:           "internal error",
	statusServiceRestart:          "service restart",
	StatusTryAgainLater:           "try again later",
	statusBadGateway:              "bad gateway",
	StatusSlowConsumer:            "slow consumer",
}

// String returns the code and its name, such as "1002 (protocol error)".
func (c StatusCode) String() string {
	if name, ok := statusNames[c]; ok {
		return strconv.Itoa(int(c)) + " (" + name + ")"
	}
	return strconv.Itoa(int(c))
}

// validWireCode reports whether c may appear in a close frame: 1000-1003,
// 1007-1014 and 3000-4999. Anything else received is a protocol error.
func validWireCode(c StatusCode) bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// maxReasonLength is the longest close reason in bytes: a control frame
// carries at most 125 bytes and the code takes two.
const maxReasonLength = 123

// A CloseError is the close frame that ended a connection, sent first by
// the peer or by this side ([Conn.Close], a protocol error of the peer,
// the read limit, a slow consumer or a shutdown), as Error says. Read and
// Send return it (possibly wrapped) once the connection is closing: take
// it with errors.As.
type CloseError struct {
	Code   StatusCode // the close code
	Reason string     // the close reason, at most 123 bytes of UTF-8
	local  bool       // this side sent it first
}

// Error describes the close: who closed ("peer", or "this side" on a
// server's connection or a client's alike), the code and the
// reason.
func (e *CloseError) Error() string {
	who := "peer"
	if e.local {
		who = "this side"
	}
	if e.Reason == "" {
		return fmt.Sprintf("ws: %s closed with %v", who, e.Code)
	}
	return fmt.Sprintf("ws: %s closed with %v: %s", who, e.Code, e.Reason)
}

// closeStatus returns the code of the CloseError in err's chain, or -1 when
// there is none.
func closeStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// Errors returned by a Conn. Match them with errors.Is.
var (
	// ErrClosed is returned by Send, Member.Join and Read on a connection
	// that has finished closing, and by Hub.Publish, PublishAt and SkipTo
	// once Hub.Shutdown has returned. It wraps net.ErrClosed.
	ErrClosed = fmt.Errorf("ws: connection closed: %w", net.ErrClosed)

	// errInvalidTopic means a topic name is empty, longer than 256 bytes,
	// not UTF-8, or holds control characters, as in package sse.
	errInvalidTopic = errors.New("ws: invalid topic")

	// errTooManyTopics means a connection asked for more topics than
	// HubOptions.MaxTopics allows, as in package sse.
	errTooManyTopics = errors.New("ws: too many topics")

	// ErrSlowConsumer is why a connection whose write missed its deadline
	// was closed with StatusSlowConsumer.
	ErrSlowConsumer = errors.New("ws: peer too slow: write deadline exceeded")

	// ErrPongTimeout is why a connection whose peer did not answer a ping
	// within the pong timeout was closed.
	ErrPongTimeout = errors.New("ws: peer did not answer ping in time")
)
