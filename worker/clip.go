package worker

import (
	"fmt"
	"unicode/utf8"
)

// Echo limits: how much of a task's own text a refusal repeats back, in
// envelopes and logs. A 1 MB unknown field name must not become a 1 MB
// refusal stored in the results stream and written to every log line.
const (
	maxEchoField   = 200
	maxEchoProblem = 400
)

// clip shortens s to at most max bytes (on a character boundary) and says
// how long it was.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:cut], len(s))
}
