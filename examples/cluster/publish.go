package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of POST /publish.
const (
	// DefaultPublishTimeout bounds a publish: JetStream's acknowledgement
	// that the message is stored (retries included).
	DefaultPublishTimeout = 5 * time.Second

	// DefaultMaxPublishBody bounds the body of a publish request: 256 KiB.
	// NATS refuses messages over its max_payload (1 MiB by default).
	DefaultMaxPublishBody = 256 << 10

	// maxMsgIDLength bounds a publish ID given by the client, in bytes.
	maxMsgIDLength = 128

	// publishRetryAfter is the Retry-After, in seconds, of a publish that
	// failed because JetStream did not answer.
	publishRetryAfter = "1"

	// topicsRetryAfter is the Retry-After, in seconds, of a publish to a
	// new topic past MaxTopics.
	topicsRetryAfter = "60"
)

// A publishRequest is the JSON body of POST /publish. A form
// (application/x-www-form-urlencoded) with the same fields works too.
type publishRequest struct {
	Topic string `json:"topic"`
	// Data is the message: a JSON string is sent as its text; any other
	// JSON value is sent as its JSON text.
	Data json.RawMessage `json:"data"`
	// Event is the SSE event type; empty for "message".
	Event string `json:"event,omitempty"`
	// ID makes the publish idempotent: a publish retried with the same
	// ID within the stream's duplicate window is stored once. IDs are
	// scoped to the publish token: another publisher's ID is another. The
	// Idempotency-Key header, when set, wins. Without either, the node
	// makes one, so its own retries are stored once.
	ID string `json:"id,omitempty"`
}

// A publishResponse is the answer to a publish that was stored.
type publishResponse struct {
	ID        string `json:"id"`        // the ID every client sees, "<epoch>-<seq>"
	Seq       uint64 `json:"seq"`       // the stream sequence
	Duplicate bool   `json:"duplicate"` // a retry: stored earlier with the same publish ID
}

// errBadRequest is wrapped by the errors of a request that cannot be
// published.
var errBadRequest = errors.New("bad publish request")

// servePublish handles POST /publish: it stores the message in the stream
// and answers with its ID once JetStream has it. Every node, this one
// included, delivers it when its applier reads it.
func (n *node) servePublish(w http.ResponseWriter, r *http.Request) {
	scope, ok := n.authorize(w, r)
	if !ok {
		return
	}
	limit := n.opts.MaxPublishBody
	if limit <= 0 {
		limit = DefaultMaxPublishBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	rec, msgID, err := readPublish(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			http.Error(w, fmt.Sprintf("body over %d bytes", limit), http.StatusRequestEntityTooLarge)
		case errors.Is(err, errUnsupportedType):
			http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		default:
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		return
	}
	if !n.topics.admit(rec.topic, time.Now()) {
		w.Header().Set("Retry-After", topicsRetryAfter)
		http.Error(w, fmt.Sprintf("Service Unavailable: the nodes hold %d topics: publish to one of them, or later", n.topics.max), http.StatusServiceUnavailable)
		return
	}
	timeout := n.opts.PublishTimeout
	if timeout <= 0 {
		timeout = DefaultPublishTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	ack, err := n.js.PublishMsg(ctx, n.subj.natsMsg(rec, scope+"/"+msgID), jetstream.WithExpectStream(n.opts.Stream.Name))
	if err != nil {
		n.log.Warn("publish", "topic", rec.topic, "err", err)
		w.Header().Set("Retry-After", publishRetryAfter)
		http.Error(w, "not stored, retry with the same id: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(publishResponse{ID: n.id(ack.Sequence), Seq: ack.Sequence, Duplicate: ack.Duplicate})
}

var errUnsupportedType = errors.New("Content-Type must be application/json or application/x-www-form-urlencoded")

// readPublish reads and checks a publish request.
func readPublish(r *http.Request) (record, string, error) {
	var req publishRequest
	var form string // the data of a form
	isForm := false
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return record{}, "", fmt.Errorf("%w: %w", errBadRequest, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return record{}, "", fmt.Errorf("%w: more than one JSON value", errBadRequest)
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return record{}, "", fmt.Errorf("%w: %w", errBadRequest, err)
		}
		req.Topic, req.Event, req.ID = r.PostForm.Get("topic"), r.PostForm.Get("event"), r.PostForm.Get("id")
		if !r.PostForm.Has("data") {
			return record{}, "", fmt.Errorf("%w: no data", errBadRequest)
		}
		form = r.PostForm.Get("data")
		isForm = true
	default:
		return record{}, "", errUnsupportedType
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		req.ID = key
	}
	rec := record{topic: req.Topic, event: req.Event}
	if err := validTopic(req.Topic); err != nil {
		return record{}, "", fmt.Errorf("%w: topic: %w", errBadRequest, err)
	}
	switch {
	case isForm:
		rec.data = form
	case len(req.Data) == 0:
		return record{}, "", fmt.Errorf("%w: no data", errBadRequest)
	default:
		var text string
		if json.Unmarshal(req.Data, &text) == nil {
			rec.data = text
		} else {
			rec.data = string(req.Data)
		}
	}
	if err := validEvent(rec.event, rec.data); err != nil {
		return record{}, "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	id, err := msgID(req.ID)
	if err != nil {
		return record{}, "", err
	}
	return rec, id, nil
}

// msgID returns the publish ID given, checked, or a new random one.
func msgID(given string) (string, error) {
	if given == "" {
		var b [16]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:]), nil
	}
	if len(given) > maxMsgIDLength {
		return "", fmt.Errorf("%w: id longer than %d bytes", errBadRequest, maxMsgIDLength)
	}
	for _, c := range []byte(given) {
		if c <= ' ' || c >= 0x7f {
			return "", fmt.Errorf("%w: id must be printable ASCII without spaces", errBadRequest)
		}
	}
	return given, nil
}
