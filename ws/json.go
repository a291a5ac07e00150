package ws

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// PublishJSON publishes v, encoded with encoding/json, as the data of a
// text envelope, and returns its ID.
func (h *Hub) PublishJSON(topic string, v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("ws: publish: %w", err)
	}
	rest := textEnvelope(topic, data, true)
	return h.publish(0, topic, func(id string) []byte { return encodeText(id, rest) })
}

// appendJSONString appends s as a JSON string as encoding/json writes it:
// a byte that is not UTF-8 becomes \ufffd, and U+2028, U+2029, <, > and &
// are escaped, so the string is also valid JavaScript. Plain ASCII, as IDs
// and topics usually are, is appended as it is.
func appendJSONString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
