package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/sethvargo/go-envconfig"
	"go.yaml.in/yaml/v3"
)

// Error is a configuration mistake: the file, the key and what is wrong.
// Commands print it as one line and exit 2.
type Error struct {
	File    string // "" when the value came from defaults or the environment only
	Key     string // dotted key, e.g. msg_signer.timeout
	Problem string
}

// Error is "config FILE: KEY: problem", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Problem)
	return b.String()
}

// ErrNotFound is returned by Find when no configuration file exists.
var ErrNotFound = errors.New("no configuration file found")

// Find returns the file to read: explicit if it exists, else the first
// existing SearchPaths entry (the Python tool's rule).
func Find(explicit string) (string, error) {
	candidates := append([]string{explicit}, SearchPaths...)
	for _, c := range candidates {
		if c == "" {
			continue
		}
		p := ExpandHome(c)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: tried %s", ErrNotFound, strings.Join(nonEmpty(candidates), ", "))
}

// Load reads path (may be "" for defaults only), applies environment
// overrides from the process environment and validates the result.
func Load(path string) (*File, error) {
	return LoadWith(path, envconfig.OsLookuper())
}

// LoadWith is Load with the environment read through env.
func LoadWith(path string, env envconfig.Lookuper) (*File, error) {
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, &Error{File: path, Problem: fmt.Sprintf("cannot read: %v", err)}
		}
	}
	return Parse(data, path, env)
}

// Parse decodes YAML data (from path, for messages), applies defaults and
// environment overrides, and validates.
func Parse(data []byte, path string, env envconfig.Lookuper) (*File, error) {
	f := Defaults()
	f.Path = path
	inFile := map[string]bool{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := decodeYAML(data, path, f); err != nil {
			return nil, err
		}
		inFile = keysSet(data)
	}
	// given: a key the file or the environment sets keeps its value, even
	// zero (which validation then refuses); only absent keys get defaults.
	given := func(section string) func(key string) bool {
		return func(key string) bool {
			if inFile[section+"."+key] {
				return true
			}
			_, inEnv := env.Lookup(EnvPrefix + strings.ToUpper(section+"_"+key))
			return inEnv
		}
	}
	if err := envconfig.ProcessWith(context.Background(), &envconfig.Config{
		Target:           f,
		Lookuper:         envconfig.PrefixLookuper(EnvPrefix, env),
		DefaultOverwrite: true,
	}); err != nil {
		return nil, &Error{File: path, Problem: fmt.Sprintf("environment override: %v", err)}
	}
	if f.MsgSigner != nil {
		f.MsgSigner.applyDefaults(given("msg_signer"))
	}
	if f.MsgBatchSigner != nil {
		f.MsgBatchSigner.applyDefaults(given("msg_batch_signer"))
	}
	if f.CosignSigner != nil {
		f.CosignSigner.applyDefaults(given("cosign_signer"))
	}
	if err := f.validate(); err != nil {
		return nil, firstInFile(err, keyPositions(data))
	}
	return f, nil
}

// keysSet returns the dotted section.key names data sets (data is valid
// YAML: decodeYAML succeeded).
func keysSet(data []byte) map[string]bool {
	set := map[string]bool{}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return set
	}
	top := root.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		section, body := top[i].Value, top[i+1]
		if body.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(body.Content); j += 2 {
			set[section+"."+body.Content[j].Value] = true
		}
	}
	return set
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// decodeYAML decodes strictly (unknown keys are mistakes, as in the Python
// tool's schema) and turns yaml's "line N" messages into key names.
func decodeYAML(data []byte, path string, f *File) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return &Error{File: path, Problem: fmt.Sprintf("not valid YAML: %v", trimYAMLPrefix(err.Error()))}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(f)
	if err == nil {
		return nil
	}
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) && len(typeErr.Errors) > 0 {
		msg := typeErr.Errors[0]
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &Error{File: path, Key: keyAtLine(&root, line), Problem: humanYAML(m[2])}
		}
		return &Error{File: path, Problem: msg}
	}
	return &Error{File: path, Problem: trimYAMLPrefix(err.Error())}
}

// keyAtLine finds the dotted key whose key or value starts on line.
func keyAtLine(root *yaml.Node, line int) string {
	var found string
	walkKeys(root, func(key string, k, v *yaml.Node) {
		switch {
		case k != nil && (k.Line == line || v.Line == line):
			found = key
		case k == nil && v.Line == line && found == "":
			found = key // a sequence item, unless its entry was found
		}
	})
	return found
}

var goTypeNames = strings.NewReplacer("config.", "", "!!str", "a string", "!!int", "a number",
	"!!seq", "a list", "!!map", "a mapping", "!!bool", "a boolean", "!!float", "a number")

func humanYAML(msg string) string {
	msg = goTypeNames.Replace(msg)
	if strings.HasPrefix(msg, "field ") && strings.Contains(msg, " not found in type ") {
		return "unknown key (" + msg + ")"
	}
	return msg
}

func trimYAMLPrefix(s string) string { return strings.TrimPrefix(s, "yaml: ") }

// ExpandHome replaces a leading "~" with the user's home directory, as
// Python's os.path.expanduser does.
func ExpandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
