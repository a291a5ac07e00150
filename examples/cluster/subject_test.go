package main

import (
	"strings"
	"testing"
)

// Topics that NATS subjects cannot carry become one token each, and come
// back the same; subjects that are not topics of the stream are refused.
func TestSubjects(t *testing.T) {
	s := newSubjects("S")
	for _, topic := range []string{"a", "a.b", "a b", "*", ">", "a.>", "x.*.y", "café ☕", "tab\u00a0nbsp", strings.Repeat("z", maxTopicLength)} {
		subj := s.of(topic)
		rest := strings.TrimPrefix(subj, "S.")
		if strings.ContainsAny(rest, ".*> \t") || rest == "" {
			t.Errorf("topic %q: subject %q is not one plain token", topic, subj)
		}
		got, err := s.topic(subj)
		if err != nil || got != topic {
			t.Errorf("topic %q: subject %q decodes to %q, %v", topic, subj, got, err)
		}
	}
	for _, subj := range []string{"S", "S.", "T.YQ", "S.YQ.YQ", "S.!!", "S." + s.of("a\nb")[2:], "S." + s.of(strings.Repeat("z", maxTopicLength+1))[2:]} {
		if topic, err := s.topic(subj); err == nil {
			t.Errorf("subject %q decodes to topic %q, want an error", subj, topic)
		}
	}
}
