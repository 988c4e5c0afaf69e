package worker

import (
	"strings"

	"github.com/release-engineering/pubtools-sign-go/config"
)

// Route is what the subject a task arrived on says about it. NATS
// permissions decide who may publish where, so the subject — never the
// task body — names the tenant.
type Route struct {
	// Subject is the subject the task arrived on.
	Subject string
	// Tenant is the <tenant> token; "" when the subject has none.
	Tenant string
	// Signer is the <signer> token of a tasks subject; "" for the micro
	// endpoint, whose subject names no signer.
	Signer string
	// Reply is a micro request's reply subject: the envelope is published
	// there with the daemon's rights, so it must be the tenant's inbox.
	Reply string
	micro bool
}

// DefaultInboxPrefix is where core NATS clients receive replies unless
// told otherwise; only the default tenant may use it.
const DefaultInboxPrefix = "_INBOX"

// InboxPrefix is the inbox prefix a tenant's clients use
// (nats.CustomInboxPrefix), which NATS permissions let only that tenant
// subscribe to: _INBOX_<tenant>.
func InboxPrefix(tenant string) string { return DefaultInboxPrefix + "_" + tenant }

// ServiceReplyPrefix starts the reply subject nats-server gives a request
// that came through a service import from another account (a tenant's
// own account, deploy/nats/tenants.conf): a subject it made up, which
// leads back only to the requester's reply subject in the requester's
// account, whatever that names.
const ServiceReplyPrefix = "_R_."

// ReplyAllowed says whether a micro request may be answered on its reply
// subject: only an inbox of the route's tenant (_INBOX_<tenant>.…, and
// for the default tenant also _INBOX.…) or a server-made reply of a
// request from another account (_R_.…), never a stream, KV, JetStream
// API or another tenant's subject.
func (r Route) ReplyAllowed() bool {
	if r.Tenant == "" || strings.ContainsAny(r.Reply, "*> \t") {
		return false
	}
	return strings.HasPrefix(r.Reply, InboxPrefix(r.Tenant)+".") || strings.HasPrefix(r.Reply, ServiceReplyPrefix) ||
		(r.Tenant == config.DefaultTenant && strings.HasPrefix(r.Reply, DefaultInboxPrefix+"."))
}

// TaskSubject is where tenant publishes a task for signer:
// <tasks prefix>.<tenant>.<signer>, the prefix being tasks_subject
// without its ".>".
func TaskSubject(tasksSubject, tenant, signer string) string {
	return strings.TrimSuffix(tasksSubject, ">") + tenant + "." + signer
}

// RequestSubject is tenant's micro endpoint: <request_subject>.<tenant>.
func RequestSubject(requestSubject, tenant string) string { return requestSubject + "." + tenant }

// ResultSubject is where the envelope of tenant's task taskID is stored:
// <results_prefix>.<tenant>.<task_id>; <results_prefix>.<tenant>.invalid
// for a refused task whose id could not be read, and
// <results_prefix>.invalid when not even the tenant is known. This is the
// only place result subjects are made.
func ResultSubject(prefix, tenant, taskID string) string {
	if tenant == "" {
		return prefix + ".invalid"
	}
	if taskID == "" {
		taskID = "invalid"
	}
	return prefix + "." + tenant + "." + taskID
}

// ParseTaskSubject reads tenant and signer from a tasks subject. A
// subject without both tokens gives a Route without a tenant, which the
// policy refuses.
func ParseTaskSubject(tasksSubject, subject string) Route {
	r := Route{Subject: subject}
	rest, ok := strings.CutPrefix(subject, strings.TrimSuffix(tasksSubject, ">"))
	if !ok {
		return r
	}
	tenant, signer, ok := strings.Cut(rest, ".")
	if !ok || !config.SubjectToken.MatchString(tenant) || !config.SubjectToken.MatchString(signer) {
		return r
	}
	r.Tenant, r.Signer = tenant, signer
	return r
}

// ParseRequestSubject reads the tenant from a micro endpoint subject.
func ParseRequestSubject(requestSubject, subject, reply string) Route {
	r := Route{Subject: subject, Reply: reply, micro: true}
	if tenant, ok := strings.CutPrefix(subject, requestSubject+"."); ok && config.SubjectToken.MatchString(tenant) {
		r.Tenant = tenant
	}
	return r
}

// envelopeMsgID is the Nats-Msg-Id of an envelope: task ids are unique
// per tenant, so the tenant is part of the deduplication key.
func envelopeMsgID(tenant, taskID string) string { return tenant + "/" + taskID }
