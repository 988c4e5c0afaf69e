package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// No code of the project binds a port the kernel picks: such a port is in
// the ephemeral range, where any outgoing connection can hold it (and it
// reaches no listener audit). HTTPServer, Listen and Port are the ways.
func TestNothingBindsAKernelPickedPort(t *testing.T) {
	banned := []string{"httptest.NewServer(", "httptest.NewUnstartedServer(", "httptest.NewTLSServer(", `"127.0.0.1:0"`, `"localhost:0"`, `":0"`}
	root := RepoRoot()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".run" || d.Name() == ".git" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "ephemeral_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, b := range banned {
			if strings.Contains(string(data), b) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s uses %s: take a port from testenv (HTTPServer, Listen, Port, FreePort)", rel, b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
