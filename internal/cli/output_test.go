package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/release-engineering/pubtools-sign-go/signers"
)

// --raw refuses a production reply that failed only in signing_status.
func TestRawOutputFailsOnSigningStatus(t *testing.T) {
	var out, errOut strings.Builder
	res := &signers.Result{SignerResult: signers.SignerResult{Status: signers.StatusOK}, OperationResults: []any{
		signers.ReplyResult{Body: []byte(`{"i": 1, "msg": {"errors": [], "request_id": "r", "signed_claim": "x", "signing_status": "success"}}`)},
		signers.ReplyResult{Body: []byte(`{"i": 1, "msg": {"errors": [], "request_id": "s", "signed_claim": null, "signing_status": "failure"}}`)},
	}}
	err := printResult(&out, &errOut, res, true, "signed_claim")
	assert.Equal(t, errFailed, err)
	assert.Equal(t, "x\n", out.String())
	assert.Equal(t, "signing_status: failure\n", errOut.String())
}
