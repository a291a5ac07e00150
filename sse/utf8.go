package sse

import "unicode/utf8"

// decodeUTF8 returns b with every ill-formed sequence replaced by U+FFFD
// the way the WHATWG Encoding standard's UTF-8 decoder does it: one
// replacement per maximal ill-formed subpart, so "\xE2\x82A" becomes
// "\uFFFDA". b holds no CR or LF, and an incomplete sequence at its end is
// replaced too (in the stream a line end, an ASCII byte, follows it).
func decodeUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	var (
		needed, seen int
		cp           rune
		lower, upper byte = 0x80, 0xBF
	)
	for i := 0; i < len(b); {
		c := b[i]
		if needed == 0 {
			i++
			switch {
			case c <= 0x7F:
				out = append(out, c)
			case c >= 0xC2 && c <= 0xDF:
				needed, cp = 1, rune(c&0x1F)
			case c >= 0xE0 && c <= 0xEF:
				if c == 0xE0 {
					lower = 0xA0
				} else if c == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(c&0x0F)
			case c >= 0xF0 && c <= 0xF4:
				if c == 0xF0 {
					lower = 0x90
				} else if c == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(c&0x07)
			default:
				out = utf8.AppendRune(out, utf8.RuneError)
			}
			continue
		}
		if c < lower || c > upper {
			// Replace the subpart seen so far and look at c again.
			needed, seen, cp, lower, upper = 0, 0, 0, 0x80, 0xBF
			out = utf8.AppendRune(out, utf8.RuneError)
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(c&0x3F)
		seen++
		i++
		if seen == needed {
			out = utf8.AppendRune(out, cp)
			needed, seen, cp = 0, 0, 0
		}
	}
	if needed != 0 {
		out = utf8.AppendRune(out, utf8.RuneError)
	}
	return out
}
