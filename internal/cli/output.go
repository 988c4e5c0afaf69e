package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/release-engineering/pubtools-sign-go/internal/jsonobj"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// printResult writes res as the Python tool does and returns the exit.
// JSON: one json.dumps document; exit 1 unless the status is ok ("error"
// from the messaging signer, "failed" from cosign). Raw: the
// signed values one per line; any error goes to stderr with exit 1.
func printResult(stdout, stderr io.Writer, res *signers.Result, raw bool, rawField string) error {
	if !raw {
		if err := res.WriteJSON(stdout, nil); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		fmt.Fprintln(stdout)
		if res.SignerResult.Status != signers.StatusOK {
			return errFailed
		}
		return nil
	}
	if res.SignerResult.Status != signers.StatusOK {
		fmt.Fprint(stderr, ensureNewline(res.SignerResult.ErrorMessage))
		return errFailed
	}
	for i, r := range res.OperationResults {
		values, errs := rawValues(r, rawField)
		if len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintln(stderr, e)
			}
			return errFailed
		}
		if len(values) == 0 {
			fmt.Fprintf(stderr, "no %s in result %d\n", rawField, i)
			return errFailed
		}
		for _, v := range values {
			fmt.Fprintln(stdout, v)
		}
	}
	return nil
}

// rawValues finds the signed values (or the errors) in one operation result.
func rawValues(r any, field string) (values, errs []string) {
	switch v := r.(type) {
	case string:
		if v == "" {
			return nil, []string{"no reply came for this request"}
		}
		return []string{v}, nil
	case signers.Reply: // a signers.ReplyResult or its Spooled form
		raw, err := v.ReplyBody()
		var body struct {
			Msg map[string]json.RawMessage `json:"msg"`
		}
		if err == nil {
			err = json.Unmarshal(raw, &body)
		}
		if err != nil {
			return nil, []string{"unreadable reply: " + err.Error()}
		}
		var replyErrs []json.RawMessage
		_ = json.Unmarshal(body.Msg["errors"], &replyErrs)
		for _, e := range replyErrs {
			errs = append(errs, plain(e))
		}
		// A production reply may say it failed in signing_status alone.
		if status, ok := body.Msg["signing_status"]; ok && len(errs) == 0 && plain(status) != "success" {
			errs = append(errs, "signing_status: "+plain(status))
		}
		if len(errs) > 0 {
			return nil, errs
		}
		if signed, ok := body.Msg[field]; ok {
			return []string{plain(signed)}, nil
		}
		return batchValues(body.Msg), nil
	}
	return nil, []string{fmt.Sprintf("unexpected result %T", r)}
}

// plain prints a JSON string as its text, anything else as JSON.
func plain(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// batchValues are the signatures of a batch reply, claim by claim in the
// order the server lists them (the request's), each claim's in the order
// of its keys: production's "claims": [{..., "signed_claims": {name: sig}}],
// or the older "signed_claims": [{"signed_claim": sig}, ...].
func batchValues(msg map[string]json.RawMessage) []string {
	var values []string
	var claims []struct {
		SignedClaims json.RawMessage `json:"signed_claims"`
	}
	if json.Unmarshal(msg["claims"], &claims) == nil {
		for _, c := range claims {
			values = append(values, objectValues(c.SignedClaims)...)
		}
		return values
	}
	var batch []map[string]json.RawMessage
	if json.Unmarshal(msg["signed_claims"], &batch) == nil {
		for _, b := range batch {
			values = append(values, plain(b["signed_claim"]))
		}
	}
	return values
}

// objectValues are a JSON object's values in document order (a Go map
// would lose it).
func objectValues(raw json.RawMessage) []string {
	var out []string
	_ = jsonobj.Walk(raw, func(_ string, dec *json.Decoder) error {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		out = append(out, plain(v))
		return nil
	})
	return out
}
