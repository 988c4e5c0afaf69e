package config

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every broken config of the corpus is refused with an error that names
// the file and the key (or says the YAML itself is broken), and never
// echoes a secret it contains.
func TestBrokenConfigCorpusNamesTheKeyAndFile(t *testing.T) {
	dir := filepath.Join("..", "testdata", "bad", "config")
	f, err := os.Open(filepath.Join(dir, "WANT"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		name, want, ok := strings.Cut(sc.Text(), "\t")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".yaml")
			_, err := Load(path)
			require.Error(t, err)
			var cfgErr *Error
			require.True(t, errors.As(err, &cfgErr), "%T: %v", err, err)
			assert.Equal(t, path, cfgErr.File)
			assert.Contains(t, err.Error(), want)
			for _, secret := range []string{"hunter2", "s3cret"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
	require.NotZero(t, n)
}
