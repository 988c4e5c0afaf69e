package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
	"github.com/release-engineering/pubtools-sign-go/internal/logging"
	"github.com/release-engineering/pubtools-sign-go/internal/redact"
)

// OperationTemplateFields are the operation fields a topic template may use
// (the Python tool formats with asdict(signer) + asdict(operation)).
var OperationTemplateFields = []string{
	"task_id", "signing_keys", "signing_key_names", "digests", "references",
	"identity_references", "requester", "inputs", "repo", "blobs",
}

// SignerTemplateFields are the signer fields a topic template may use.
// "env" is a short alias of "environment"; "worker_id" is the daemon replica.
var SignerTemplateFields = []string{
	"messaging_brokers", "messaging_cert_key", "messaging_ca_cert", "topic_send_to",
	"topic_listen_to", "creator", "environment", "env", "service", "timeout", "retries",
	"send_retries", "message_id_key", "log_level", "task_id_attribute", "chunk_size", "worker_id",
}

// validate checks every key and returns every problem it finds (joined
// *Error values): Parse reports the one first in the file, so two wrong
// keys give the same message on every run.
func (f *File) validate() error {
	var p problems
	if f.MsgSigner != nil {
		p.add(f.MsgSigner.validate(f.Path, "msg_signer"))
	}
	if f.MsgBatchSigner != nil {
		p.add(f.MsgBatchSigner.MsgSigner.validate(f.Path, "msg_batch_signer"))
		if f.MsgBatchSigner.ChunkSize < 1 {
			p.add(f.errorf("msg_batch_signer.chunk_size", "must be at least 1, got %d", f.MsgBatchSigner.ChunkSize))
		}
	}
	if f.CosignSigner != nil {
		p.add(f.CosignSigner.validate(f.Path))
	}
	p.add(f.validatePolicy())
	p.add(f.validateDaemon())
	return p.err()
}

func (f *File) errorf(key, format string, args ...any) error {
	return &Error{File: f.Path, Key: key, Problem: fmt.Sprintf(format, args...)}
}

func (m *MsgSigner) validate(path, section string) error {
	var p problems
	bad := func(key, format string, args ...any) error {
		return &Error{File: path, Key: section + "." + key, Problem: fmt.Sprintf(format, args...)}
	}
	if len(m.MessagingBrokers) == 0 {
		p.add(bad("messaging_brokers", "required: a list of amqp:// or amqps:// URLs"))
	}
	anyTLS := false
	for i, b := range m.MessagingBrokers {
		tls, err := checkBrokerURL(b)
		if err != nil {
			p.add(bad(fmt.Sprintf("messaging_brokers[%d]", i), "%v", err))
		}
		anyTLS = anyTLS || tls
	}
	required := map[string]string{
		"topic_send_to": string(m.TopicSendTo), "topic_listen_to": string(m.TopicListenTo),
		"environment": m.Environment, "service": m.Service, "message_id_key": m.MessageIDKey,
	}
	for _, key := range []string{"topic_send_to", "topic_listen_to", "environment", "service", "message_id_key"} {
		if strings.TrimSpace(required[key]) == "" {
			p.add(bad(key, "required"))
		}
	}
	known := append(append([]string{}, SignerTemplateFields...), OperationTemplateFields...)
	for key, tpl := range map[string]Template{"topic_send_to": m.TopicSendTo, "topic_listen_to": m.TopicListenTo} {
		if err := tpl.Check(known); err != nil {
			p.add(bad(key, "%v", err))
		}
	}
	for key, v := range map[string]int{"timeout": m.Timeout, "retries": m.Retries, "send_retries": m.SendRetries,
		"send_window": m.SendWindow, "credit_window": m.CreditWindow, "max_in_flight": m.MaxInFlight} {
		if v < 1 {
			p.add(bad(key, "must be at least 1, got %d", v))
		}
	}
	if m.ConnectTimeout <= 0 {
		p.add(bad("connect_timeout", "must be positive, got %s", m.ConnectTimeout))
	}
	if m.WriteCoalesce < 0 || m.WriteCoalesce > amqp.MaxWriteCoalesce {
		p.add(bad("write_coalesce", "must be between 0 (off) and %s, got %s", amqp.MaxWriteCoalesce, m.WriteCoalesce))
	}
	if m.TargetQueueDelay <= 0 {
		return bad("target_queue_delay", "must be positive, got %s", m.TargetQueueDelay)
	}
	if anyTLS && m.MessagingCACert == "" {
		p.add(bad("messaging_ca_cert", "required for amqps:// brokers"))
	}
	for key, file := range map[string]string{"messaging_cert_key": m.MessagingCertKey, "messaging_ca_cert": m.MessagingCACert} {
		if file == "" {
			continue
		}
		if err := checkReadable(ExpandHome(file)); err != nil {
			p.add(bad(key, "%v", err))
		}
	}
	return p.err()
}

// checkBrokerURL accepts amqp://host:port and amqps://host:port and reports
// whether TLS is used.
func checkBrokerURL(raw string) (bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return false, fmt.Errorf("not a URL: %q", redact.URL(raw))
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return false, fmt.Errorf("scheme must be amqp or amqps, got %q in %s", u.Scheme, redact.URL(raw))
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" || u.Hostname() == "" {
		return false, fmt.Errorf("want scheme://host:port, got %s", redact.URL(raw))
	}
	return u.Scheme == "amqps", nil
}

// checkReadable makes sure a configured file can be read, and is a file:
// a path that wanders to a directory is named, not opened later.
func checkReadable(p string) error {
	fh, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", p, unwrapPathError(err))
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", p, unwrapPathError(err))
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	return nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (c *CosignSigner) validate(path string) error {
	var p problems
	bad := func(key, format string, args ...any) error {
		return &Error{File: path, Key: "cosign_signer." + key, Problem: fmt.Sprintf(format, args...)}
	}
	if _, err := time.ParseDuration(c.Timeout); err != nil {
		p.add(bad("timeout", "want a duration such as 3m0s, got %q", c.Timeout))
	}
	if c.NumThreads < 1 {
		p.add(bad("num_threads", "must be at least 1, got %d", c.NumThreads))
	}
	if c.Retries < 1 {
		p.add(bad("retries", "must be at least 1, got %d", c.Retries))
	}
	if c.RegistryPassword != "" && c.RegistryUser == "" {
		p.add(bad("registry_user", "required when registry_password is set"))
	}
	if c.RegistryAuthFile != "" {
		if err := checkReadable(ExpandHome(c.RegistryAuthFile)); err != nil {
			p.add(bad("registry_auth_file", "%v", err))
		}
	}
	return p.err()
}

func (f *File) validateDaemon() error {
	var p problems
	if f.Worker.Concurrency < 1 {
		p.add(f.errorf("worker.concurrency", "must be at least 1, got %d", f.Worker.Concurrency))
	}
	if f.Worker.ShutdownGrace <= 0 {
		p.add(f.errorf("worker.shutdown_grace", "must be positive, got %s", f.Worker.ShutdownGrace))
	}
	if f.Worker.MaxTaskBytes < 1024 {
		p.add(f.errorf("worker.max_task_bytes", "must be at least 1024, got %d", f.Worker.MaxTaskBytes))
	}
	if f.Worker.MaxRequestsPerTask < 1 {
		p.add(f.errorf("worker.max_requests_per_task", "must be at least 1, got %d", f.Worker.MaxRequestsPerTask))
	}
	if f.Worker.MaxInputBytes < 1 {
		p.add(f.errorf("worker.max_input_bytes", "must be at least 1, got %d", f.Worker.MaxInputBytes))
	}
	if f.Worker.MaxCosignProcesses < 1 {
		p.add(f.errorf("worker.max_cosign_processes", "must be at least 1, got %d", f.Worker.MaxCosignProcesses))
	}
	if strings.ContainsAny(f.Worker.ID, " .*>") {
		p.add(f.errorf("worker.id", "must not contain spaces, '.', '*' or '>': %q", f.Worker.ID))
	}
	n := f.NATS
	if (n.TLSCert == "") != (n.TLSKey == "") {
		p.add(f.errorf("nats.tls_key", "tls_cert and tls_key must be set together"))
	}
	for key, v := range map[string]string{"tasks_stream": n.TasksStream, "tasks_subject": n.TasksSubject,
		"results_stream": n.ResultsStream, "results_prefix": n.ResultsPrefix, "consumer": n.Consumer, "request_subject": n.RequestSubject} {
		if v == "" {
			p.add(f.errorf("nats."+key, "required"))
		}
	}
	if n.AckWait < time.Second {
		p.add(f.errorf("nats.ack_wait", "must be at least 1s, got %s", n.AckWait))
	}
	if n.MaxDeliver < 1 {
		p.add(f.errorf("nats.max_deliver", "must be at least 1, got %d", n.MaxDeliver))
	}
	f.validateCluster(&p)
	if n.TasksMaxAge < 0 {
		p.add(f.errorf("nats.tasks_max_age", "must not be negative, got %s", n.TasksMaxAge))
	}
	if n.ResultsBucket == "" {
		p.add(f.errorf("nats.results_bucket", "required"))
	}
	if f.Log.RepeatLimit < 0 || (f.Log.RepeatLimit > 0 && f.Log.RepeatInterval <= 0) {
		p.add(f.errorf("log.repeat_limit", "want repeat_limit >= 0 and a positive repeat_interval, got %d per %s", f.Log.RepeatLimit, f.Log.RepeatInterval))
	}
	if _, err := logging.ParseLevel(f.Log.Level); err != nil || f.Log.Level == "" {
		p.add(f.errorf("log.level", "want debug, info, warning or error, got %q", f.Log.Level))
	}
	switch f.Log.Format {
	case "auto", "text", "json":
	default:
		p.add(f.errorf("log.format", "want auto, text or json, got %q", f.Log.Format))
	}
	return p.err()
}

// validateCluster checks the keys of the streams and pulls a NATS cluster
// needs.
func (f *File) validateCluster(p *problems) {
	n := f.NATS
	if n.StreamReplicas < 1 || n.StreamReplicas > 5 {
		p.add(f.errorf("nats.stream_replicas", "must be 1 to 5, got %d", n.StreamReplicas))
	}
	if n.ResultsMaxAge < 0 {
		p.add(f.errorf("nats.results_max_age", "must not be negative (0: keep for ever), got %s", n.ResultsMaxAge))
	}
	if n.PullExpiry < time.Second {
		p.add(f.errorf("nats.pull_expiry", "must be at least 1s, got %s", n.PullExpiry))
	}
	if n.StoreTimeout < time.Second {
		p.add(f.errorf("nats.store_timeout", "must be at least 1s, got %s", n.StoreTimeout))
	}
}
