package worker

import (
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/release-engineering/pubtools-sign-go/config"
)

// StoredByWorker says whether a message found on a results subject is an
// envelope a worker stored there, judged by its Nats-Msg-Id (see publish):
// <tenant>/<task_id> for an envelope, invalid-<tenant>/<task_id>-<time>
// for a refusal, naming the very subject it is on.
//
// Tenants cannot publish on results subjects, but nats-server answers a
// request on whatever reply subject the requester names, with its own
// rights: the publish ack of a tenant's own task (or a JetStream API
// answer) sent with the reply subject of another tenant's results is
// stored there. Such a message carries no Nats-Msg-Id, or one naming
// another subject (a stored envelope relayed by a direct get), so it is
// never taken for an envelope. With an account per tenant (the shipped
// deploy/nats/tenants.conf) a tenant's reply subjects stay in its own
// account and this cannot happen; the check stays for deployments that
// put several tenants into one account, and costs nothing.
func StoredByWorker(subject string, h nats.Header) bool {
	id := h.Get(jetstream.MsgIDHeader)
	if rest, ok := strings.CutPrefix(id, "invalid-"); ok {
		// The refusal's time suffix has no '-' (base 36), task ids may.
		i := strings.LastIndexByte(rest, '-')
		if i < 0 {
			return false
		}
		id = rest[:i]
	}
	tenant, taskID, ok := strings.Cut(id, "/")
	return ok && config.SubjectToken.MatchString(tenant) && validTaskID(taskID) &&
		strings.HasSuffix(subject, "."+tenant+"."+taskID)
}
