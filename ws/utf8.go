package ws

import "unicode/utf8"

// utf8Prefix validates b as the beginning of a UTF-8 text that may go on:
// it returns the length of the longest prefix of b made of whole runes, and
// false when b holds a sequence that is invalid whatever follows. An
// incomplete rune at the end of b is not an error; the caller validates it
// again with the bytes that follow, and checks at the end of the message
// that nothing is left over.
func utf8Prefix(b []byte) (int, bool) {
	if utf8.Valid(b) {
		return len(b), true
	}
	i := 0
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			// FullRune is false only for a valid but incomplete
			// sequence, so that is what ends b; anything else is invalid.
			return i, !utf8.FullRune(b[i:])
		}
		i += size
	}
	return i, true
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
