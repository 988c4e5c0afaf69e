package worker

import (
	"context"
	"fmt"

	"github.com/release-engineering/pubtools-sign-go/signers"
)

// Signers are the configured signers, one function per task signer; a nil
// function means that signer is not configured on this replica.
type Signers struct {
	MsgContainer      func(context.Context, *signers.ContainerSign) (*signers.Result, error)
	MsgBatchContainer func(context.Context, *signers.ContainerSign) (*signers.Result, error)
	MsgClear          func(context.Context, *signers.ClearSign) (*signers.Result, error)
	MsgBlob           func(context.Context, *signers.BlobSign) (*signers.Result, error)
	CosignContainer   func(context.Context, *signers.ContainerSign) (*signers.Result, error)
}

// Sign runs t (already validated) on its signer.
func (s *Signers) Sign(ctx context.Context, t *Task) (*signers.Result, error) {
	notConfigured := &TaskError{Field: "signer", Problem: fmt.Sprintf("signer %q is not configured on this worker", t.Signer)}
	switch t.Signer {
	case SignerMsgContainer:
		if s.MsgContainer == nil {
			return nil, notConfigured
		}
		return s.MsgContainer(ctx, t.containerSign())
	case SignerMsgBatchContainer:
		if s.MsgBatchContainer == nil {
			return nil, notConfigured
		}
		return s.MsgBatchContainer(ctx, t.containerSign())
	case SignerCosignContainer:
		if s.CosignContainer == nil {
			return nil, notConfigured
		}
		return s.CosignContainer(ctx, t.containerSign())
	case SignerMsgClear:
		if s.MsgClear == nil {
			return nil, notConfigured
		}
		return s.MsgClear(ctx, t.clearSign())
	case SignerMsgBlob:
		if s.MsgBlob == nil {
			return nil, notConfigured
		}
		return s.MsgBlob(ctx, t.blobSign())
	}
	return nil, &TaskError{Field: "signer", Problem: fmt.Sprintf("unknown signer %q", t.Signer)}
}

// Names lists the task signers this replica has, in a fixed order: the
// consumers it pulls from.
func (s *Signers) Names() []string {
	var out []string
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{SignerMsgContainer, s.MsgContainer != nil},
		{SignerMsgClear, s.MsgClear != nil},
		{SignerMsgBlob, s.MsgBlob != nil},
		{SignerMsgBatchContainer, s.MsgBatchContainer != nil},
		{SignerCosignContainer, s.CosignContainer != nil},
	} {
		if c.ok {
			out = append(out, c.name)
		}
	}
	return out
}
