package pyjson

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Expected outputs below are what CPython 3 prints for json.dumps(value).
func TestMarshalMatchesPythonJSONDumps(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want string
	}{
		{"ordered object", Object{{"b", 1}, {"a", "x"}}, `{"b": 1, "a": "x"}`},
		{"nested", Object{{"l", []any{1, "two", nil, true}}, {"o", Object{}}}, `{"l": [1, "two", null, true], "o": {}}`},
		{"html left alone", "<a & b>", `"<a & b>"`},
		{"latin-1 escaped lower-case", "caf\u00e9", `"caf\u00e9"`},
		{"BMP escaped", "\u20ac", `"\u20ac"`},
		{"astral as surrogate pair", "\U0001F600", `"\ud83d\ude00"`},
		{"controls", "a\nb\tc\x01\x7f", `"a\nb\tc\u0001\u007f"`},
		{"quote and backslash", `"\`, `"\"\\"`},
		{"slash not escaped", "a/b", `"a/b"`},
		{"empty list", []string{}, `[]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Marshal(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

func TestReformatKeepsOrderAndNumberLiterals(t *testing.T) {
	got, err := Reformat([]byte(`{"z":1.0, "a" :[ 1e3,{"k":"v\u00e9"}] }`))
	require.NoError(t, err)
	assert.Equal(t, `{"z": 1.0, "a": [1e3, {"k": "v\u00e9"}]}`, string(got))
}

func TestReformatRejectsInvalidJSON(t *testing.T) {
	_, err := Reformat([]byte(`{"a":`))
	assert.Error(t, err)
}

func FuzzReformat(f *testing.F) {
	f.Add([]byte(`{"a":[1,"\u00e9\ud83d\ude00"]}`))
	f.Add([]byte(`"\\\""`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Reformat(in)
		if err != nil {
			return
		}
		// The rewrite must stay valid JSON that means the same thing.
		again, err := Reformat(out)
		require.NoError(t, err)
		assert.Equal(t, string(out), string(again))
	})
}

func TestSetKeepsPositionLikeDictUpdate(t *testing.T) {
	o := Object{{"a", 1}, {"b", 2}}.Set("a", 3).Set("c", 4)
	got, err := Marshal(o)
	require.NoError(t, err)
	assert.Equal(t, `{"a": 3, "b": 2, "c": 4}`, string(got))
}

// The direct encoder and the encoding/json-then-rewrite path must agree
// byte for byte on every string: requests are signed as encoded.
func FuzzDirectEncodingMatchesRewrite(f *testing.F) {
	f.Add("caf\u00e9", "\U0001F600<&>")
	f.Add("\x00\x1f\"\\", "\xff invalid utf-8")
	f.Fuzz(func(t *testing.T, key, value string) {
		v := Object{{key, value}, {"list", []string{value, key}}, {"n", 7}, {"ok", false}}
		direct, err := Marshal(v)
		require.NoError(t, err)
		compact, err := marshalCompact(v)
		require.NoError(t, err)
		rewritten, err := Reformat(compact)
		require.NoError(t, err)
		assert.Equal(t, string(rewritten), string(direct))
	})
}

// The fast paths (printable ASCII copied in runs, plain literals copied
// whole) write what the rune-by-rune escaping writes, for any string.
func FuzzFastPathsMatchRuneByRune(f *testing.F) {
	f.Add("plain ascii ~ with spaces")
	f.Add("caf\u00e9 \"q\" \\ \x7f \x00 \U0001F600 \xff")
	f.Fuzz(func(t *testing.T, s string) {
		want := appendStringRuneByRune(nil, s)
		assert.Equal(t, string(want), string(AppendString(nil, s)))
		compact, err := marshalCompact(s)
		require.NoError(t, err)
		got, err := Reformat(compact)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	})
}

// appendStringRuneByRune is json.dumps's ensure_ascii escaping one rune at
// a time, the reference for the fast paths.
func appendStringRuneByRune(out []byte, s string) []byte {
	out = append(out, '"')
	for _, r := range s {
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
