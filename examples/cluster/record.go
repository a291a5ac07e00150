package main

import (
	"fmt"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of the messages on the stream, besides NATS's own Nats-Msg-Id.
const (
	topicHeader = "Realtime-Topic" // the topic, as its subject's token says
	eventHeader = "Realtime-Event" // the SSE event type; absent for "message"
)

// A record is one message of the stream as the nodes apply and replay it.
type record struct {
	seq   uint64 // stream sequence: the event's ID is "<epoch>-<seq>"
	topic string
	event string // SSE event type; "" for the default
	data  string // UTF-8 text, so that SSE can carry it
}

// natsMsg returns the message that publishes r (its seq is ignored) with
// the deduplication ID msgID.
func (s subjects) natsMsg(r record, msgID string) *nats.Msg {
	m := nats.NewMsg(s.of(r.topic))
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	m.Header.Set(topicHeader, r.topic)
	if r.event != "" {
		m.Header.Set(eventHeader, r.event)
	}
	m.Data = []byte(r.data)
	return m
}

// decode returns the record of a message read from the stream, of stream
// sequence seq (its metadata's). A message that was not published by a
// node (written to the stream by other means) and that the Broker or Hub
// could not carry is an error: both the applier and the history skip it,
// so every node skips the same ones.
func (s subjects) decode(m jetstream.Msg, seq uint64) (record, error) {
	topic, err := s.topic(m.Subject())
	if err != nil {
		return record{}, fmt.Errorf("stream seq %d: %w", seq, err)
	}
	r := record{seq: seq, topic: topic, event: m.Headers().Get(eventHeader), data: string(m.Data())}
	if err := validEvent(r.event, r.data); err != nil {
		return record{}, fmt.Errorf("stream seq %d: %w", r.seq, err)
	}
	return r, nil
}

// validEvent reports whether an event type and data can be sent as a
// server-sent event: UTF-8, and a type on one line.
func validEvent(event, data string) error {
	if !utf8.ValidString(data) {
		return fmt.Errorf("data is not UTF-8")
	}
	if !utf8.ValidString(event) || len(event) > maxEventLength {
		return fmt.Errorf("event type is not UTF-8 or longer than %d bytes", maxEventLength)
	}
	for _, c := range []byte(event) {
		if c == '\r' || c == '\n' || c == 0 {
			return fmt.Errorf("event type holds CR, LF or NUL")
		}
	}
	return nil
}

// maxEventLength bounds an SSE event type, in bytes.
const maxEventLength = 64
