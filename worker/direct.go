package worker

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DirectStored looks up the last message stored on subject in stream with
// a direct get by subject ($JS.API.DIRECT.GET.<stream>.<subject>, no
// body), the one JetStream call a tenant's NATS account is granted on the
// daemon's streams (deploy/nats/tenants.conf): it needs neither stream
// info nor a consumer. It returns the message only if a worker stored it
// (StoredByWorker), nil when there is none. Any server may answer, a
// follower that lags included, so "none" from here may be stale: the
// worker itself asks the leader (LeaderStoredEnvelope).
func DirectStored(ctx context.Context, nc *nats.Conn, stream, subject string) (*nats.Msg, error) {
	resp, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+stream+"."+subject, nil)
	if err != nil {
		return nil, fmt.Errorf("look up envelope on %s: %w", subject, err)
	}
	if len(resp.Data) == 0 && resp.Header.Get("Status") != "" {
		if resp.Header.Get("Status") == "404" {
			return nil, nil
		}
		return nil, fmt.Errorf("look up envelope on %s: %s %s", subject, resp.Header.Get("Status"), resp.Header.Get("Description"))
	}
	if resp.Header.Get(jetstream.StreamHeader) != stream || resp.Header.Get(jetstream.SubjectHeader) != subject {
		return nil, fmt.Errorf("look up envelope on %s: not a direct get answer of stream %s", subject, stream)
	}
	if !StoredByWorker(subject, resp.Header) {
		return nil, nil
	}
	return resp, nil
}

// DirectEnvelope is DirectStored without refusals: the envelope that
// makes a task done, or nil.
func DirectEnvelope(ctx context.Context, nc *nats.Conn, stream, subject string) ([]byte, error) {
	m, err := DirectStored(ctx, nc, stream, subject)
	if err != nil || m == nil || m.Header.Get(OutcomeHeader) == "invalid" {
		return nil, err
	}
	if m.Data == nil {
		return []byte{}, nil
	}
	return m.Data, nil
}
