package testenv

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BadInput is one entry of the bad-input corpus (testdata/bad/<kind>):
// the file and what its error must mention.
type BadInput struct {
	Name, Path, Want string
}

// BadInputs reads testdata/bad/<kind>/WANT, whose lines are
// "name<TAB>want" for the file name+ext beside it.
func BadInputs(t testing.TB, kind, ext string) []BadInput {
	t.Helper()
	dir := filepath.Join(RepoRoot(), "testdata", "bad", kind)
	f, err := os.Open(filepath.Join(dir, "WANT"))
	if err != nil {
		t.Fatalf("bad-input corpus: %v", err)
	}
	defer f.Close()
	var out []BadInput
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, want, ok := strings.Cut(sc.Text(), "\t")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		out = append(out, BadInput{Name: name, Path: filepath.Join(dir, name+ext), Want: want})
	}
	if err := sc.Err(); err != nil || len(out) == 0 {
		t.Fatalf("bad-input corpus %s: %d entries, %v", kind, len(out), err)
	}
	return out
}
