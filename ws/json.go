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

// SendJSON sends v, encoded with encoding/json, as a text message on this
// connection alone, as Send does. On a connection that speaks Subprotocol
// the JSON value is the data of the direct message, not a string holding
// it.
func (c *Conn) SendJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ws: send: %w", err)
	}
	f, err := c.dataFrame(MessageText, data, true)
	if err != nil {
		return err
	}
	_, err = c.enqueue(f)
	return err
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. A byte of s that is not
// UTF-8 becomes \ufffd, as encoding/json does; U+2028 and U+2029 are
// escaped so that the string is also valid JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != '\u2028' && r != '\u2029' && (r != utf8.RuneError || size != 1) {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case r == utf8.RuneError:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, `\u202`...)
				b = append(b, hexDigits[r&0xf])
			}
			i += size
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
