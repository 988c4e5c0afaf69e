package msg

import (
	"context"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// BatchContainerSign is the msg_batch_signer variant of ContainerSign:
// claims are grouped by repository (in order of first appearance) into
// chunks of at most chunkSize, one request per chunk carrying every key.
// OperationResults has one entry per chunk. op must pass Validate.
func (s *Signer) BatchContainerSign(ctx context.Context, op *signers.ContainerSign, chunkSize int) (*signers.Result, error) {
	p, err := s.newPrepared(ctx, op.Requester, containerValues(op))
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(op.SigningKeys))
	keyIDs := make([]string, len(op.SigningKeys))
	for i, k := range op.SigningKeys {
		keys[i] = signers.ResolveKey(s.cfg.KeyAliases, k)
		keyIDs[i] = keyID(keys[i])
	}
	// The Python tool sends [""] when no names are given.
	names := op.SigningKeyNames
	if len(names) == 0 {
		names = []string{""}
	}
	chunks := groupByRepo(op, chunkSize)
	p.plan(len(chunks), func(i int, id, created string) (RequestType, pyjson.Object, pyjson.Object) {
		g := chunks[i]
		claims := make([]pyjson.Object, len(g.indexes))
		for j, i := range g.indexes {
			claims[j] = pyjson.Object{
				{Key: "claim_file", Value: ContainerClaim(op.Digests[i], op.References[i])},
				{Key: "sig_keynames", Value: names},
				{Key: "sig_key_ids", Value: keyIDs},
				{Key: "manifest_digest", Value: op.Digests[i]},
				{Key: "repo", Value: g.repo},
			}
		}
		body := pyjson.Object{
			{Key: Batch.dataAttribute(), Value: claims},
			{Key: "request_id", Value: id},
			{Key: "created", Value: created},
			{Key: "requested_by", Value: p.creator},
		}
		return Batch, body, pyjson.Object{{Key: "pipeline_run_id", Value: op.TaskID}}
	})
	return s.run(ctx, p, &signers.Result{Operation: op.Dict(), SigningKeys: op.SigningKeys}), nil
}

// chunk is a run of references (by index) of one repository.
type chunk struct {
	repo    string
	indexes []int
}

func groupByRepo(op *signers.ContainerSign, size int) []chunk {
	var order []string
	byRepo := map[string][]int{}
	for i, ref := range op.References {
		repo, _ := signers.RepoOf(ref)
		if _, seen := byRepo[repo]; !seen {
			order = append(order, repo)
		}
		byRepo[repo] = append(byRepo[repo], i)
	}
	var chunks []chunk
	for _, repo := range order {
		idx := byRepo[repo]
		for start := 0; start < len(idx); start += size {
			end := min(start+size, len(idx))
			chunks = append(chunks, chunk{repo: repo, indexes: idx[start:end]})
		}
	}
	return chunks
}
