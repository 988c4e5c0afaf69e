package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTemplateFormatsLikePythonStrFormat(t *testing.T) {
	values := map[string]string{"creator": "me", "task_id": "t-1", "env": "prod"}
	cases := []struct{ tpl, want string }{
		{"queue://Consumer.{creator}.{task_id}.VirtualTopic.{env}", "queue://Consumer.me.t-1.VirtualTopic.prod"},
		{"/topic/plain", "/topic/plain"},
		{"literal {{braces}} {env}", "literal {braces} prod"},
	}
	for _, tc := range cases {
		got, err := Template(tc.tpl).Format(values)
		require.NoError(t, err, tc.tpl)
		assert.Equal(t, tc.want, got)
	}
}

func TestTemplateRefusesWhatPythonWouldEvaluate(t *testing.T) {
	for _, tpl := range []string{"{__class__}x", "{a.b}", "{a[0]}", "{x!r}", "{x:>4}", "{}", "{0}", "a}b", "a{b"} {
		_, err := Template(tpl).Format(map[string]string{"a": "1", "x": "1", "__class__": "1"})
		if tpl == "{__class__}x" {
			// a plain name is fine when it is a known field ...
			require.NoError(t, err)
			// ... and refused by Check when it is not.
			assert.Error(t, Template(tpl).Check([]string{"env"}))
			continue
		}
		assert.Error(t, err, tpl)
	}
}
