package config

import (
	"errors"
	"testing"
)

// FuzzParse: any YAML gives a config or a *config.Error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(pythonConfig))
	f.Add([]byte("msg_signer: [1, 2]\n"))
	f.Add([]byte("worker:\n  concurrency: -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data, "fuzz.yaml", noEnv())
		var cerr *Error
		if err != nil && !errors.As(err, &cerr) {
			t.Fatalf("error is not a *config.Error: %v", err)
		}
	})
}
