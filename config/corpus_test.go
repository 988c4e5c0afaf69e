package config

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// Every broken config of the corpus is refused with an error that names
// the file and the key (or says the YAML itself is broken), and never
// echoes a secret it contains.
func TestBrokenConfigCorpusNamesTheKeyAndFile(t *testing.T) {
	t.Chdir(testenv.RepoRoot() + "/config") // the corpus's relative paths start here
	for _, c := range testenv.BadInputs(t, "config", ".yaml") {
		t.Run(c.Name, func(t *testing.T) {
			_, err := Load(c.Path)
			require.Error(t, err)
			var cfgErr *Error
			require.True(t, errors.As(err, &cfgErr), "%T: %v", err, err)
			assert.Equal(t, c.Path, cfgErr.File)
			assert.Contains(t, err.Error(), c.Want)
			for _, secret := range []string{"hunter2", "s3cret"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}
