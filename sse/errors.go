package sse

import (
	"errors"

	"github.com/realtime-go/realtime/internal/request"
)

var (
	// ErrClosed means the Broker was shut down: Publish, PublishAt and
	// SkipTo return it once Shutdown has returned.
	ErrClosed = errors.New("sse: broker shut down")
	// errInvalidTopic means a topic name is empty, longer than 256 bytes,
	// not UTF-8, or holds control characters.
	errInvalidTopic = errors.New("sse: invalid topic")
	// errTooManyTopics means a stream asked for more topics than
	// BrokerOptions.MaxTopics allows.
	errTooManyTopics = errors.New("sse: too many topics")
	// ErrClientGone is why a stream ended when its client went away: it
	// closed the connection, or a write failed because it was gone. A
	// stream whose request context ended for another reason (a deadline
	// set by middleware) ends with that context's cause instead.
	ErrClientGone = errors.New("sse: client went away")
	// ErrSlowConsumer is why a stream ended when its client did not take
	// a write within BrokerOptions.WriteTimeout, as ws.ErrSlowConsumer is
	// for a connection.
	ErrSlowConsumer = errors.New("sse: client too slow: write deadline exceeded")
)

// A StatusError carries an HTTP status. A [BrokerOptions.Topics] hook
// returns one to refuse a request with that status (401 or 403 for a
// failed authorization, for example, with a WWW-Authenticate header); a
// [Client] returns one when a server answers with anything but 200 and an
// event stream. It is the same type as ws.StatusError.
type StatusError = request.StatusError
