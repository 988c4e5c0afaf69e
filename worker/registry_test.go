package worker

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// Every signer is complete in the registry, and the config check knows
// the same names.
func TestRegistryEntriesAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds {
		assert.True(t, config.SubjectToken.MatchString(k.Name), k.Name)
		assert.False(t, seen[k.Name], "%s twice", k.Name)
		seen[k.Name] = true
		assert.NotEmpty(t, k.Section, k.Name)
		assert.NotNil(t, k.Configured, k.Name)
		assert.NotNil(t, k.Operation, k.Name)
		assert.NotNil(t, k.KeyAliases, k.Name)
		assert.NotNil(t, k.Build, k.Name)
		assert.False(t, k.Configured(&config.File{}), "%s needs its section", k.Name)
	}
	assert.Equal(t, KindNames(), config.TaskSigners)
}

// A task signs with the operation its kind makes, on the function the
// replica has for that name; a name it lacks is refused, not guessed.
func TestSignersDispatchByName(t *testing.T) {
	var got *signers.ClearSign
	sigs := Signers{SignerMsgClear: Typed(func(_ context.Context, op *signers.ClearSign) (*signers.Result, error) {
		got = op
		return &signers.Result{}, nil
	})}
	assert.Equal(t, []string{SignerMsgClear}, sigs.Names())
	_, err := sigs.Sign(context.Background(), &Task{TaskID: "t1", Signer: SignerMsgClear, Inputs: []string{"hi"}})
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, []string{"hi"}, got.Inputs)

	_, err = sigs.Sign(context.Background(), &Task{TaskID: "t2", Signer: SignerMsgBlob, Inputs: []string{"aGk="}})
	var te *TaskError
	require.True(t, errors.As(err, &te))
	assert.Contains(t, te.Problem, "not configured on this worker")

	_, err = LookupKind("gpg")
	require.True(t, errors.As(err, &te))
	assert.Equal(t, "signer", te.Field)
	assert.Contains(t, te.Problem, `unknown signer "gpg" (want msg-container, msg-clear`)
}
