package config

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPythonListRepr(t *testing.T) {
	assert.Equal(t, `['a', "b'c"]`, PythonListRepr([]string{"a", "b'c"}))
	assert.Equal(t, `["it's", 'a\nb']`, PythonListRepr([]string{"it's", "a\nb"}))
	assert.Equal(t, `['both \' and "']`, PythonListRepr([]string{`both ' and "`}))
	assert.Equal(t, `[]`, PythonListRepr(nil))
}

// The table real python3 wrote (testdata/pyrepr/gen.py): repr() of
// strings that cover every rule.
func TestPythonReprMatchesRealPython(t *testing.T) {
	f, err := os.Open("testdata/pyrepr/cases.jsonl")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var c struct {
			InHex string `json:"in_hex"`
			Repr  string `json:"repr"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &c))
		in, err := hex.DecodeString(c.InHex)
		require.NoError(t, err)
		assert.Equal(t, c.Repr, PythonRepr(string(in)), "input % x", in)
		n++
	}
	require.NoError(t, sc.Err())
	assert.Greater(t, n, 300)
}

// Every code point outside the surrogates is escaped exactly when Python's
// str.isprintable() refuses it, except characters Python's (older)
// Unicode did not assign yet.
func TestPrintabilityIsPythons(t *testing.T) {
	nonPrintable, unassigned := readNonPrintable(t)
	newer := 0
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue
		}
		escaped := strings.Contains(PythonRepr(string(r)), `\`)
		if escaped == nonPrintable(r) {
			continue
		}
		if unassigned(r) && !escaped {
			newer++ // assigned after Python's Unicode version
			continue
		}
		t.Errorf("U+%04X: escaped=%v, Python says printable=%v", r, escaped, !nonPrintable(r))
	}
	t.Logf("%d code points are printable in Go's Unicode %s but unassigned in Python's", newer, unicode.Version)
}

func readNonPrintable(t *testing.T) (nonPrintable, unassigned func(rune) bool) {
	data, err := os.ReadFile("testdata/pyrepr/nonprintable.txt")
	require.NoError(t, err)
	type span struct {
		lo, hi rune
		cn     bool
	}
	var spans []span
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		lo, err1 := strconv.ParseInt(f[0], 16, 32)
		hi, err2 := strconv.ParseInt(f[1], 16, 32)
		require.NoError(t, err1)
		require.NoError(t, err2)
		spans = append(spans, span{rune(lo), rune(hi), len(f) > 2})
	}
	// Tables of every code point: a linear search per code point is slow
	// under -race.
	np := make([]bool, unicode.MaxRune+1)
	cn := make([]bool, unicode.MaxRune+1)
	for _, sp := range spans {
		for r := sp.lo; r <= sp.hi && r <= unicode.MaxRune; r++ {
			np[r], cn[r] = true, sp.cn
		}
	}
	return func(r rune) bool { return np[r] }, func(r rune) bool { return cn[r] }
}

// FuzzPythonRepr checks the rules on any input: the quote choice, only
// printable characters between the quotes, and reading the literal back
// as Python would gives the input again.
func FuzzPythonRepr(f *testing.F) {
	for _, s := range []string{"", "it's", `"'`, "a\nb\t\\", "\x00\x7f\u0080\u00ad", "\u2028\U000e0001", "\xff\xfe", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := PythonRepr(s)
		quote := byte('\'')
		if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
			quote = '"'
		}
		if len(out) < 2 || out[0] != quote || out[len(out)-1] != quote {
			t.Fatalf("%q: quoted wrong: %s", s, out)
		}
		for _, r := range out {
			if r > 0x7e && !unicode.IsPrint(r) || r < ' ' || r == 0x7f {
				t.Fatalf("%q: unescaped %U in %s", s, r, out)
			}
		}
		back, err := readPythonLiteral(out[1:len(out)-1], quote)
		if err != nil {
			t.Fatalf("%q: %s does not read back: %v", s, out, err)
		}
		if back != s {
			t.Fatalf("%q: %s reads back as %q", s, out, back)
		}
	})
}

// readPythonLiteral undoes the escapes of a Python string literal's body
// (a \udcHH surrogate becomes the byte it escaped).
func readPythonLiteral(body string, quote byte) (string, error) {
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == quote {
			return "", fmt.Errorf("unescaped quote at %d", i)
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(body) {
			return "", fmt.Errorf("dangling backslash")
		}
		digits := 0
		switch body[i] {
		case '\\', '\'', '"':
			b.WriteByte(body[i])
			continue
		case 't':
			b.WriteByte('\t')
			continue
		case 'n':
			b.WriteByte('\n')
			continue
		case 'r':
			b.WriteByte('\r')
			continue
		case 'x':
			digits = 2
		case 'u':
			digits = 4
		case 'U':
			digits = 8
		default:
			return "", fmt.Errorf("unknown escape \\%c", body[i])
		}
		if i+1+digits > len(body) {
			return "", fmt.Errorf("short escape")
		}
		v, err := strconv.ParseUint(body[i+1:i+1+digits], 16, 32)
		if err != nil {
			return "", err
		}
		i += digits
		switch {
		case v >= 0xdc80 && v <= 0xdcff:
			b.WriteByte(byte(v - 0xdc00))
		case v >= 0xd800 && v <= 0xdfff:
			return "", fmt.Errorf("lone surrogate %x", v)
		default:
			b.WriteRune(rune(v))
		}
	}
	return b.String(), nil
}
