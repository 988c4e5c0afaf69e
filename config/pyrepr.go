package config

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PythonListRepr renders a list of strings as Python's str(list) does, for
// templates that name a list field such as {references}: "[" + the repr()
// of each item joined by ", " + "]".
func PythonListRepr(items []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		writePythonRepr(&b, it)
	}
	b.WriteByte(']')
	return b.String()
}

// PythonRepr is Python's repr() of a str (CPython unicode_repr):
//   - quoted with ' unless the text holds a ' and no ", then with ";
//   - the quote and \ are escaped with a backslash, \t \n \r by name;
//   - other ASCII controls and DEL as \xHH;
//   - non-ASCII characters that are not printable (str.isprintable: the
//     categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs except the space) as
//     \xHH, \uHHHH or \UHHHHHHHH, the shortest that fits, in lower case.
//
// A byte that is not UTF-8 prints as \udcHH, the lone surrogate Python's
// surrogateescape decoding of argv makes of it.
//
// Printability comes from Go's unicode tables, whose Unicode version may
// be newer than the Python's: a character assigned in between prints as
// itself here and escaped there.
func PythonRepr(s string) string {
	var b strings.Builder
	writePythonRepr(&b, s)
	return b.String()
}

func writePythonRepr(b *strings.Builder, s string) {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(b, `\udc%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < ' ' || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r < 0x7f, unicode.IsPrint(r):
			// unicode.IsPrint is L, M, N, P, S and the ASCII space: the
			// complement of what str.isprintable refuses.
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			fmt.Fprintf(b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
}
