package sse

import (
	"errors"

	"github.com/realtime-go/realtime/internal/request"
)

var (
	// ErrClosed means the Broker was shut down.
	ErrClosed = errors.New("sse: broker shut down")
	// ErrInvalidTopic means a topic name is empty, longer than 256 bytes,
	// not UTF-8, or holds control characters.
	ErrInvalidTopic = errors.New("sse: invalid topic")
	// ErrTooManyTopics means a stream asked for more topics than
	// BrokerOptions.MaxTopics allows.
	ErrTooManyTopics = errors.New("sse: too many topics")
)

// A StatusError carries an HTTP status. A [BrokerOptions.Topics] hook
// returns one to refuse a request with that status (401 or 403 for a
// failed authorization, for example, with a WWW-Authenticate header); a
// [Client] returns one when a server answers with anything but 200 and an
// event stream. It is the same type as ws.StatusError.
type StatusError = request.StatusError
