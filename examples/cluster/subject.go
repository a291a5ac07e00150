package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxTopicLength is the longest topic, in bytes, as the sse and ws
// packages take it.
const maxTopicLength = 256

// errBadTopic means a topic is not one the Broker and Hub take: empty,
// longer than maxTopicLength bytes, not UTF-8 or with control characters.
var errBadTopic = errors.New("invalid topic")

// validTopic reports whether name is a topic both sse.Broker and ws.Hub
// take, so that a message is refused before it is stored, not after.
func validTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", errBadTopic)
	case len(name) > maxTopicLength:
		return fmt.Errorf("%w: longer than %d bytes", errBadTopic, maxTopicLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8", errBadTopic)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: control character %U", errBadTopic, r)
		}
	}
	return nil
}

// Topics become NATS subjects "<stream>.<token>", where the token is the
// topic in unpadded base64url: NATS subjects cannot carry dots (token
// separators), spaces, "*" and ">" (wildcards), so a topic such as
// "prices.EUR > USD" is carried as a token of letters, digits, "-" and "_"
// only, one per topic, and a consumer filters on exactly the subjects of its
// topics. The topic itself also travels in the topicHeader of every message,
// for people reading the stream with the nats CLI; the subject is what
// counts.
var topicEncoding = base64.RawURLEncoding

// subjects maps topics to the subjects of one stream.
type subjects struct {
	prefix string // "<stream>."
}

func newSubjects(stream string) subjects { return subjects{prefix: stream + "."} }

// all is the stream's subject filter: every topic's subject.
func (s subjects) all() string { return s.prefix + ">" }

// of returns the subject of topic.
func (s subjects) of(topic string) string {
	return s.prefix + topicEncoding.EncodeToString([]byte(topic))
}

// topic returns the topic of subject, or an error for a subject that is not
// one of this stream's topics.
func (s subjects) topic(subject string) (string, error) {
	token, ok := strings.CutPrefix(subject, s.prefix)
	if !ok || token == "" || strings.Contains(token, ".") {
		return "", fmt.Errorf("subject %q is not a topic of this stream", subject)
	}
	b, err := topicEncoding.DecodeString(token)
	if err != nil {
		return "", fmt.Errorf("subject %q: %w", subject, err)
	}
	topic := string(b)
	if err := validTopic(topic); err != nil {
		return "", fmt.Errorf("subject %q: %w", subject, err)
	}
	return topic, nil
}
