package broker

import (
	"errors"
	"testing"
)

// FuzzDecodeReply: a reply either carries a non-empty id or is malformed.
func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"msg": {"request_id": "r", "errors": []}}`))
	f.Add([]byte(`{"msg": {"request_id": 1}}`))
	f.Add([]byte(`{"msg": null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeReply(body, nil, "request_id")
		if err != nil {
			if !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if r.RequestID == "" {
			t.Fatal("accepted a reply without id")
		}
	})
}
