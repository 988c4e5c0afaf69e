// Package pyjson writes JSON byte-for-byte as Python's json.dumps does with
// its defaults: ", " and ": " separators, non-ASCII escaped as lower-case
// \uXXXX (surrogate pairs above U+FFFF), and no HTML escaping.
//
// The signing server and existing pipelines compare these bytes (the
// container claim is signed as-is), so Go's encoding/json output is not
// enough. Strings, ordered objects, lists and integers are written directly;
// other values are encoded by encoding/json and rewritten token by token,
// which keeps key order and number literals exactly as they were.
package pyjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Member is one key of an Object.
type Member struct {
	Key   string
	Value any
}

// Object is a JSON object whose keys keep the order they were added in, as a
// Python dict does.
type Object []Member

// MarshalJSON writes the members in order.
func (o Object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		key, err := marshalCompact(m.Key)
		if err != nil {
			return nil, err
		}
		buf.Write(key)
		buf.WriteByte(':')
		val, err := marshalCompact(m.Value)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", m.Key, err)
		}
		buf.Write(val)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Marshaler is implemented by values that write their own json.dumps form.
type Marshaler interface {
	MarshalPyJSON() ([]byte, error)
}

// Appender is a value that writes itself at the end of a buffer, so a
// caller encoding thousands of values reuses one buffer instead of
// allocating one per value; Append prefers it to Marshaler.
type Appender interface {
	AppendPyJSON(out []byte) ([]byte, error)
}

// Marshal returns v encoded as Python's json.dumps(v) would encode it.
func Marshal(v any) ([]byte, error) { return Append(nil, v) }

// Append appends v encoded as Python's json.dumps(v) would encode it.
// Strings, objects, lists, booleans and integers are written directly (the
// request and envelope path); anything else goes through encoding/json and
// is rewritten.
func Append(out []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(out, "null"...), nil
	case string:
		return AppendString(out, x), nil
	case bool:
		return strconv.AppendBool(out, x), nil
	case int:
		return strconv.AppendInt(out, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(out, x, 10), nil
	case Appender:
		return x.AppendPyJSON(out)
	case Marshaler:
		b, err := x.MarshalPyJSON()
		return append(out, b...), err
	case Object:
		out = append(out, '{')
		for i, m := range x {
			if i > 0 {
				out = append(out, ", "...)
			}
			out = append(AppendString(out, m.Key), ": "...)
			var err error
			if out, err = Append(out, m.Value); err != nil {
				return nil, fmt.Errorf("key %q: %w", m.Key, err)
			}
		}
		return append(out, '}'), nil
	case []string:
		return appendList(out, x)
	case []any:
		return appendList(out, x)
	case []Object:
		return appendList(out, x)
	}
	compact, err := marshalCompact(v)
	if err != nil {
		return nil, err
	}
	return AppendReformat(out, compact)
}

func appendList[T any](out []byte, items []T) ([]byte, error) {
	out = append(out, '[')
	for i, item := range items {
		if i > 0 {
			out = append(out, ", "...)
		}
		var err error
		if out, err = Append(out, item); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	return append(out, ']'), nil
}

// Reformat rewrites valid JSON into json.dumps layout, keeping key order and
// number literals.
func Reformat(src []byte) ([]byte, error) {
	return AppendReformat(make([]byte, 0, len(src)+len(src)/8), src)
}

// AppendReformat appends src rewritten as Reformat does.
func AppendReformat(out, src []byte) ([]byte, error) {
	if !json.Valid(src) {
		return nil, fmt.Errorf("pyjson: invalid JSON input")
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case ' ', '\t', '\n', '\r':
		case ',':
			out = append(out, ',', ' ')
		case ':':
			out = append(out, ':', ' ')
		case '"':
			end := stringEnd(src, i)
			if plainLiteral(src[i+1 : end-1]) { // json.dumps writes it the same
				out = append(out, src[i:end]...)
				i = end - 1
				continue
			}
			var s string
			if err := json.Unmarshal(src[i:end], &s); err != nil {
				return nil, fmt.Errorf("pyjson: string at offset %d: %w", i, err)
			}
			out = AppendString(out, s)
			i = end - 1
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

// plainLiteral says whether a string literal's content holds only
// printable ASCII and no escape: what json.dumps writes unchanged.
func plainLiteral(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	return true
}

// stringEnd returns the index just past the closing quote of the string
// literal starting at src[start].
func stringEnd(src []byte, start int) int {
	for i := start + 1; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(src)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a json.dumps string literal (ensure_ascii=True).
func AppendString(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); {
		// A run of printable ASCII other than '"' and '\\' goes as it is.
		run := i
		for run < len(s) && s[run] >= 0x20 && s[run] <= 0x7e && s[run] != '"' && s[run] != '\\' {
			run++
		}
		if run > i {
			out = append(out, s[i:run]...)
			i = run
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			out = append(out, '\\', '"')
		case r == '\\':
			out = append(out, '\\', '\\')
		case r == '\n':
			out = append(out, '\\', 'n')
		case r == '\r':
			out = append(out, '\\', 'r')
		case r == '\t':
			out = append(out, '\\', 't')
		case r == '\b':
			out = append(out, '\\', 'b')
		case r == '\f':
			out = append(out, '\\', 'f')
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			out = appendU(out, r)
		case r >= 0x10000:
			r -= 0x10000
			out = appendU(out, 0xd800+(r>>10))
			out = appendU(out, 0xdc00+(r&0x3ff))
		default:
			out = append(out, byte(r))
		}
	}
	return append(out, '"')
}

func appendU(out []byte, r rune) []byte {
	return append(out, '\\', 'u',
		hexDigits[(r>>12)&0xf], hexDigits[(r>>8)&0xf], hexDigits[(r>>4)&0xf], hexDigits[r&0xf])
}

// marshalCompact is encoding/json without HTML escaping and without the
// trailing newline an Encoder adds.
func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// Set sets key as Python's dict assignment does: an existing key keeps its
// position, a new one goes last.
func (o Object) Set(key string, value any) Object {
	for i := range o {
		if o[i].Key == key {
			o[i].Value = value
			return o
		}
	}
	return append(o, Member{Key: key, Value: value})
}
