package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Template is an address written in Python str.format syntax, as the Python
// tool's topic_send_to / topic_listen_to are: "{name}" is replaced by a
// field, "{{" and "}}" are literal braces. Only plain field names are
// allowed: attribute access, indexing, conversions and format specs
// ("{__class__}", "{a.b}", "{x!r}") are refused rather than evaluated.
type Template string

var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Fields returns the field names the template uses, or an error naming the
// first malformed replacement field.
func (t Template) Fields() ([]string, error) {
	var names []string
	_, err := t.expand(func(name string) (string, error) {
		names = append(names, name)
		return "", nil
	})
	return names, err
}

// Check reports the first field that is not among known.
func (t Template) Check(known []string) error {
	names, err := t.Fields()
	if err != nil {
		return err
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			sorted := append([]string(nil), known...)
			sort.Strings(sorted)
			return fmt.Errorf("unknown template field {%s} (known: %s)", n, strings.Join(sorted, ", "))
		}
	}
	return nil
}

// Format replaces every field with its value from values.
func (t Template) Format(values map[string]string) (string, error) {
	return t.expand(func(name string) (string, error) {
		v, ok := values[name]
		if !ok {
			return "", fmt.Errorf("unknown template field {%s}", name)
		}
		return v, nil
	})
}

func (t Template) expand(field func(string) (string, error)) (string, error) {
	s := string(t)
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			out.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			out.WriteByte('}')
			i++
		case c == '}':
			return "", fmt.Errorf("single '}' encountered in %q", s)
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("single '{' encountered in %q", s)
			}
			name := s[i+1 : i+end]
			if !fieldName.MatchString(name) {
				return "", fmt.Errorf("unsupported replacement field {%s} in %q: only {name} is allowed", name, s)
			}
			v, err := field(name)
			if err != nil {
				return "", err
			}
			out.WriteString(v)
			i += end
		default:
			out.WriteByte(c)
		}
	}
	return out.String(), nil
}
