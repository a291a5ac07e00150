package ws

import (
	"net/http"
	"strconv"
	"strings"
)

// deflateExtension is the name of the per-message compression extension of
// RFC 7692.
const deflateExtension = "permessage-deflate"

// deflateResponse is the Sec-WebSocket-Extensions value the server answers
// an acceptable permessage-deflate offer with: neither side keeps its
// compression context from one message to the next (RFC 7692, sections
// 7.1.1.1 and 7.1.1.2; the server may ask this of the client whether or not
// the client offered it), so that no compressor or decompressor is held
// by a connection between messages, and one compressed broadcast frame
// can be sent to every connection.
const deflateResponse = deflateExtension + "; server_no_context_takeover; client_no_context_takeover"

// extensionParam is one parameter of an extension offer.
type extensionParam struct {
	name, value string
	hasValue    bool
}

// negotiateDeflate returns the Sec-WebSocket-Extensions value that accepts
// the first acceptable permessage-deflate offer of h, and the server's
// window bits agreed (8 to 15), or "" and 0 when the client offered none.
// Offers of other extensions, malformed offers and offers RFC 7692
// (section 7.1) says to decline are skipped: the connection is then made
// without compression, as a client that offers nothing gets.
func negotiateDeflate(h http.Header) (string, int) {
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		for offer := range strings.SplitSeq(v, ",") {
			name, params, ok := parseOffer(offer)
			if !ok || !strings.EqualFold(name, deflateExtension) {
				continue
			}
			if resp, bits, ok := acceptDeflate(params); ok {
				return resp, bits
			}
		}
	}
	return "", 0
}

// acceptDeflate returns the answer to a permessage-deflate offer with
// params and the server's window bits, or false when the offer must be
// declined: an unknown or repeated parameter, or a value that is not
// allowed (section 7.1).
func acceptDeflate(params []extensionParam) (string, int, bool) {
	resp, window := deflateResponse, 15
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		name := strings.ToLower(p.name)
		if seen[name] {
			return "", 0, false
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if p.hasValue {
				return "", 0, false
			}
		case "server_max_window_bits":
			// The compressor of compress/flate always uses a window of
			// 2^15 bytes, but within one message no distance reaches
			// back past the message's start: with a smaller window, only
			// payloads of at most 2^bits bytes are sent compressed (see
			// Conn.compressible).
			bits, ok := windowBits(p)
			if !ok {
				return "", 0, false
			}
			window = bits
			resp += "; server_max_window_bits=" + p.value
		case "client_max_window_bits":
			// Any window the client uses fits the decompressor's: nothing
			// to answer (section 7.1.2.2 lets the server leave it out).
			if p.hasValue {
				if _, ok := windowBits(p); !ok {
					return "", 0, false
				}
			}
		default:
			return "", 0, false
		}
	}
	return resp, window, true
}

// windowBits returns the value of a window-bits parameter: 8 to 15, in
// decimal without leading zeros.
func windowBits(p extensionParam) (int, bool) {
	v := p.value
	if !p.hasValue || len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, false
	}
	return n, true
}

// parseOffer splits one extension offer, "name; param; param=value", into
// its name and parameters (RFC 6455, section 9.1). A value may be a token
// or a quoted string. It reports false for an offer that does not follow
// the grammar.
func parseOffer(s string) (name string, params []extensionParam, ok bool) {
	parts := strings.Split(s, ";")
	name = strings.TrimSpace(parts[0])
	if !isToken(name) {
		return "", nil, false
	}
	for _, part := range parts[1:] {
		k, v, hasValue := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !isToken(k) {
			return "", nil, false
		}
		if hasValue {
			v = strings.TrimSpace(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1] // a quoted value must be a token too
			}
			if !isToken(v) {
				return "", nil, false
			}
		}
		params = append(params, extensionParam{name: k, value: v, hasValue: hasValue})
	}
	return name, params, true
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
