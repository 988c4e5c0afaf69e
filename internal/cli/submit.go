package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// defaultNATSURL is where `serve` puts its embedded server by default.
const defaultNATSURL = "nats://127.0.0.1:4222"

func newSubmit() *cobra.Command {
	var (
		t                    worker.Task
		file, natsURL, cfgFn string
		tenant               string
		wait                 bool
		timeout              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "submit",
		Short: "Publish a signing task to the daemon's queue (and optionally wait for its envelope)",
		Long: "Publishes a pubtools-sign.task.v1 task built from flags (or read from --file) to <tasks prefix>.<tenant>.<signer>,\n" +
			"with Nats-Msg-Id = tenant/task id + a digest of the task, and prints the task id. A task id that already has an envelope is\n" +
			"not submitted again (its envelope is the answer). With --wait it prints the result envelope and exits 1 unless\n" +
			"every signature succeeded. The NATS URL comes from --nats-url, PUBTOOLS_SIGN_NATS_URL, the config file, or\n" +
			defaultNATSURL + " (where `serve` starts its embedded server).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadOptionalConfig(cfgFn, cmd.Flags().Changed("config-file"))
			if err != nil {
				return err
			}
			if file != "" {
				data, err := os.ReadFile(file)
				if err != nil {
					return &exitError{code: ExitUsage, msg: fmt.Sprintf("--file: %v", err)}
				}
				if err := json.Unmarshal(data, &t); err != nil {
					return &exitError{code: ExitUsage, msg: fmt.Sprintf("--file %s: %v", file, err)}
				}
			}
			if t.Schema == "" {
				t.Schema = worker.TaskSchema
			}
			if t.TaskID == "" {
				t.TaskID = "t-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
			}
			data, _ := json.Marshal(&t)
			if _, err := worker.DecodeTaskWithin(data, worker.LimitsOf(&cfg.Worker)); err != nil {
				return &exitError{code: ExitUsage, msg: "task: " + err.Error()}
			}
			url := firstNonEmpty(natsURL, cfg.NATS.URL, defaultNATSURL)
			tenant = firstNonEmpty(tenant, cfg.NATS.Tenant, config.DefaultTenant)
			if !config.SubjectToken.MatchString(tenant) {
				return &exitError{code: ExitUsage, msg: fmt.Sprintf("--tenant %q: lower-case letters, digits, '_' and '-', at most 64", tenant)}
			}
			return submit(cmd, cfg, url, tenant, &t, data, wait, timeout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&t.Signer, "signer", "", "signer: "+strings.Join(worker.KindNames(), ", "))
	fl.StringVar(&t.TaskID, "task-id", "", "task id, the idempotency key (default: a new random id)")
	fl.StringArrayVar(&t.SigningKeys, "signing-key", nil, "signing key id or alias (repeatable)")
	fl.StringArrayVar(&t.SigningKeyNames, "signing-key-name", nil, "signing key name (repeatable, one per --signing-key)")
	fl.StringArrayVar(&t.References, "reference", nil, "image reference to sign (repeatable, paired with --digest)")
	fl.StringArrayVar(&t.Digests, "digest", nil, "manifest digest (repeatable, paired with --reference)")
	fl.StringArrayVar(&t.IdentityReferences, "identity", nil, "identity recorded by cosign (repeatable, paired with --reference)")
	fl.StringArrayVar(&t.Inputs, "input", nil, "text to clearsign, or base64 blob for msg-blob (repeatable)")
	fl.StringVar(&t.Repo, "repo", "", "repository for msg-clear")
	fl.StringVar(&t.Requester, "requester", "", "requester instead of the certificate's CN")
	fl.StringVar(&tenant, "tenant", "", "tenant to submit as: the task goes to <tasks prefix>.<tenant>.<signer> (default: nats.tenant, else \"default\")")
	fl.StringVar(&file, "file", "", "read the task from this JSON file (flags fill what it leaves out)")
	fl.StringVar(&natsURL, "nats-url", "", "NATS server URL")
	fl.StringVar(&cfgFn, "config-file", config.SearchPaths[0], "config file for the nats section (optional)")
	fl.BoolVar(&wait, "wait", false, "wait for the envelope and print it")
	fl.DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}

func submit(cmd *cobra.Command, cfg *config.File, url, tenant string, t *worker.Task, data []byte, wait bool, timeout time.Duration) error {
	ctx := cmd.Context()
	// Replies (publish acks) come to the tenant's own inbox, which NATS
	// permissions let no other tenant read.
	nc, err := connectNATS(url, &cfg.NATS, "pubtools-sign submit", nats.CustomInboxPrefix(worker.InboxPrefix(tenant)))
	if err != nil {
		return &exitError{code: ExitFailed, msg: err.Error()}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return &exitError{code: ExitFailed, msg: err.Error()}
	}
	resultSubject := worker.ResultSubject(cfg.NATS.ResultsPrefix, tenant, t.TaskID)
	// A task id that already has an envelope (not a refusal) is done: the
	// daemon would not sign it again, so there is nothing to wait for.
	// Looked up with a direct get and watched with a core subscription:
	// a tenant's NATS account has no other JetStream API on the daemon's
	// streams (deploy/nats/tenants.conf), and the single account needs
	// nothing else either.
	since := int64(0)
	stored, err := lookUpStored(ctx, nc, js, &cfg.NATS, resultSubject)
	if err != nil { // the daemon asks again before signing: submitting is safe
		since = -1
		fmt.Fprintf(cmd.ErrOrStderr(), "pubtools-sign: cannot tell whether task %s already has an envelope (%v); submitting\n", t.TaskID, err)
	} else if stored != nil {
		since = int64(storedSeq(stored))
	}
	// answered prints the envelope a task id already has, instead of
	// waiting for a signing that will not happen.
	answered := func(stored *nats.Msg) error {
		fmt.Fprintln(cmd.OutOrStdout(), t.TaskID)
		fmt.Fprintf(cmd.ErrOrStderr(), "pubtools-sign: task %s already has an envelope; not submitted again\n", t.TaskID)
		if !wait {
			return nil
		}
		return printEnvelope(cmd, js, stored.Data)
	}
	if isEnvelope(stored) {
		return answered(stored)
	}
	var live *nats.Subscription
	if wait {
		// Subscribed before publishing: a refusal takes a millisecond.
		if live, err = nc.SubscribeSync(resultSubject); err == nil {
			err = nc.Flush()
		}
		if err != nil {
			return &exitError{code: ExitFailed, msg: fmt.Sprintf("watch %s: %v", resultSubject, err)}
		}
		defer func() { _ = live.Unsubscribe() }()
	}
	hdr := nats.Header{}
	hdr.Set(jetstream.MsgIDHeader, worker.TaskMsgID(tenant, t.TaskID, data))
	ack, err := publishTask(ctx, js, &nats.Msg{Subject: worker.TaskSubject(cfg.NATS.TasksSubject, tenant, t.Signer), Data: data, Header: hdr})
	if err != nil {
		return &exitError{code: ExitFailed, msg: fmt.Sprintf("publish task: %v", err)}
	}
	if ack.Duplicate {
		// The earlier submission may have been answered since the first
		// look-up: a core subscriber sees an envelope a moment before the
		// results stream has stored it.
		if stored, err := lookUpStored(ctx, nc, js, &cfg.NATS, resultSubject); err == nil && isEnvelope(stored) {
			return answered(stored)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "pubtools-sign: the same task %s was submitted moments ago; waiting for that one\n", t.TaskID)
	}
	fmt.Fprintln(cmd.OutOrStdout(), t.TaskID)
	if !wait {
		return nil
	}
	afterPublish()
	env, err := waitEnvelope(ctx, nc, live, cfg.NATS.ResultsStream, resultSubject, since, timeout)
	if err != nil {
		return &exitError{code: ExitFailed, msg: fmt.Sprintf("no envelope for %s within %s: %v", t.TaskID, timeout, err)}
	}
	return printEnvelope(cmd, js, env)
}

// afterPublish lets a test store the envelope between the publish and the
// first read, the moment a fast daemon can beat the watcher to.
var afterPublish = func() {}

// printEnvelope prints an envelope (fetching one too large for a NATS
// message from its object); the exit is 1 unless it says every signature
// succeeded.
func printEnvelope(cmd *cobra.Command, js jetstream.JetStream, data []byte) error {
	data, err := worker.ResolveEnvelope(cmd.Context(), js, data)
	if err != nil {
		return &exitError{code: ExitFailed, msg: err.Error()}
	}
	fmt.Fprintln(cmd.OutOrStdout(), string(data))
	var env struct {
		SignerResult struct{ Status string } `json:"signer_result"`
		Failed       bool                    `json:"failed"`
	}
	if json.Unmarshal(data, &env) != nil || env.SignerResult.Status != "ok" || env.Failed {
		return errFailed
	}
	return nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
