package worker

import (
	"context"
	"fmt"

	"github.com/release-engineering/pubtools-sign-go/signers"
)

// Signers are the signers this replica has, by task signer name (Kinds);
// a signer missing here is not configured on this replica.
type Signers map[string]SignFunc

// Sign runs t (already validated and admitted) on its signer.
func (s Signers) Sign(ctx context.Context, t *Task) (*signers.Result, error) {
	op, err := t.operation()
	if err != nil {
		return nil, err
	}
	fn := s[t.Signer]
	if fn == nil {
		return nil, &TaskError{Field: "signer", Problem: fmt.Sprintf("signer %q is not configured on this worker", t.Signer)}
	}
	return fn(ctx, op)
}

// Names lists the task signers this replica has, in the registry's order:
// the consumers it pulls from.
func (s Signers) Names() []string {
	var out []string
	for _, k := range Kinds {
		if s[k.Name] != nil {
			out = append(out, k.Name)
		}
	}
	return out
}
