package deploy

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stage is one FROM ... block of the Dockerfile.
type stage struct {
	name, base string
	user       string // the last USER; "" when the stage sets none
}

// stages reads the Dockerfile's stages (FROM, USER and stage names only:
// the image cannot be built on CI machines, so its rules are read).
func stages(t *testing.T) map[string]*stage {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	require.NoError(t, err)
	defer f.Close()
	all := map[string]*stage{}
	var cur *stage
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			cur = &stage{base: fields[1], name: "stage" + string(rune('0'+n))}
			n++
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				cur.name = fields[3]
			}
			if parent, ok := all[cur.base]; ok {
				cur.user = parent.user // FROM an earlier stage inherits its USER
			}
			all[cur.name] = cur
		case "USER":
			cur.user = fields[1]
		}
	}
	require.NoError(t, sc.Err())
	return all
}

// Every image the Dockerfile ships runs as a non-root user.
func TestImagesRunAsNonRoot(t *testing.T) {
	all := stages(t)
	for _, name := range []string{"runtime", "cosign"} {
		s, ok := all[name]
		require.True(t, ok, "stage %s", name)
		user, _, _ := strings.Cut(s.user, ":")
		assert.NotContains(t, []string{"", "root", "0"}, user, "stage %s runs as %q", name, s.user)
	}
	// The default target (the last stage) too.
	last := all["stage"+string(rune('0'+len(all)-1))]
	require.NotNil(t, last)
	assert.NotContains(t, []string{"", "root", "0"}, strings.Split(last.user, ":")[0])
}
