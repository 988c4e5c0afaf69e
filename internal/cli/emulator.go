package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/logging"
	"github.com/release-engineering/pubtools-sign-go/signers/msg"
)

// emulatorFlags configure `pubtools-sign emulator`.
type emulatorFlags struct {
	configFile, section     string
	brokers                 []string
	requestAddr, replyAddr  string
	messageIDKey, publicOut string
	logLevel, username      string
	topicExchange           string
	faults                  emulator.Faults
	capacity                emulator.Capacity
	rate                    float64
}

func newEmulator() *cobra.Command {
	var f emulatorFlags
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run a signing-server emulator on an AMQP 1.0 broker (development, tests, benchmarks)",
		Long: "Plays the signing server: takes requests from the request address, signs them with a real OpenPGP key\n" +
			"and replies on the reply address. With --config-file the addresses and brokers come from a msg_signer section;\n" +
			"the reply address is topic_listen_to with {creator} and {task_id} taken from each request.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEmulator(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config-file", "", "take brokers and addresses from this config file's section")
	fl.StringVar(&f.section, "section", "msg_signer", "config section to serve: msg_signer or msg_batch_signer")
	fl.StringArrayVar(&f.brokers, "broker", nil, "broker URL (repeatable; default: the section's messaging_brokers)")
	fl.StringVar(&f.requestAddr, "request-address", "", "address requests arrive on (default: the section's topic_send_to)")
	fl.StringVar(&f.replyAddr, "reply-address", "", "reply address template over request fields, e.g. /topic/x.{requested_by}")
	fl.StringVar(&f.messageIDKey, "message-id-key", "", "reply field carrying the request id (default: the section's message_id_key)")
	fl.StringVar(&f.publicOut, "public-key-out", "", "write the armored public signing key to this file")
	fl.StringVar(&f.logLevel, "log-level", "INFO", "DEBUG, INFO, WARNING or ERROR")
	fl.DurationVar(&f.faults.Delay, "delay", 0, "hold every reply back this long")
	fl.IntVar(&f.faults.DropFirst, "drop-first", 0, "leave the first N requests unanswered")
	fl.Float64Var(&f.faults.DropRate, "drop-rate", 0, "leave this fraction of requests unanswered")
	fl.BoolVar(&f.faults.Duplicate, "duplicate", false, "send every reply twice")
	fl.IntVar(&f.faults.Stray, "stray", 0, "send N replies for unknown request ids per request")
	fl.Float64Var(&f.faults.ErrorRate, "error-rate", 0, "answer this fraction with error replies")
	fl.Float64Var(&f.faults.MalformedRate, "malformed-rate", 0, "answer this fraction with replies that are not JSON")
	fl.Uint64Var(&f.faults.Seed, "seed", 0, "seed for the random faults (0: random)")
	fl.StringVar(&f.topicExchange, "topic-exchange", "", "RabbitMQ only: send replies to /topic/ addresses through one link to this exchange (amq.topic) instead of a link per reply address")
	fl.StringVar(&f.username, "username", emulator.DefaultUsername, "the reply wrapper's \"username\" (the production server's is fedmsg)")
	fl.IntVar(&f.capacity.Workers, "workers", 0, "serve at most this many requests at once, each taking --work (FIFO; the backlog waits in the broker)")
	fl.DurationVar(&f.capacity.Work, "work", 0, "time one worker spends on one request, e.g. 10ms (with --workers)")
	fl.Float64Var(&f.rate, "capacity", 0, "serve at most this many requests per second, one at a time (instead of --workers/--work)")
	fl.DurationVar(&f.capacity.StaleAfter, "stale-after", 0, "count requests served later than this after their created time (set to the client's TTL)")
	return cmd
}

func runEmulator(cmd *cobra.Command, f *emulatorFlags) error {
	level, err := logging.ParseLevel(f.logLevel)
	if err != nil {
		return &exitError{code: ExitUsage, msg: err.Error()}
	}
	log := logging.New(cmd.ErrOrStderr(), level, "auto")
	opts := emulator.Options{URLs: f.brokers, RequestAddress: f.requestAddr, ReplyAddress: config.Template(f.replyAddr),
		MessageIDKey: f.messageIDKey, Faults: f.faults, Username: f.username, TopicExchange: f.topicExchange, Capacity: f.capacity, Log: log}
	if f.rate > 0 {
		opts.Capacity = emulator.CapacityPerSecond(f.rate)
		opts.Capacity.StaleAfter = f.capacity.StaleAfter
	}
	if f.configFile != "" {
		if err := fillFromSection(&opts, f); err != nil {
			return err
		}
	}
	if len(opts.URLs) == 0 || opts.RequestAddress == "" || opts.ReplyAddress == "" {
		return &exitError{code: ExitUsage, msg: "need --broker, --request-address and --reply-address, or --config-file"}
	}
	srv, err := emulator.Start(cmd.Context(), opts)
	if err != nil {
		return usageOrFailure(err)
	}
	defer srv.Close()
	if f.publicOut != "" {
		pub, err := srv.Key().ArmoredPublicKey()
		if err != nil {
			return usageOrFailure(err)
		}
		if err := os.WriteFile(f.publicOut, pub, 0o644); err != nil {
			return usageOrFailure(fmt.Errorf("--public-key-out: %w", err))
		}
	}
	<-cmd.Context().Done()
	st := srv.Stats()
	ar := srv.Arrivals()
	log.Info("emulator stopped", "requests", st.Requests, "replies", st.Replies, "dropped", st.Dropped,
		"distinct_requests", ar.Distinct, "duplicate_requests", ar.Duplicates, "stale_requests", ar.Stale, "oldest_request", ar.MaxAge)
	return nil
}

// fillFromSection takes what the flags left out from a config section.
func fillFromSection(opts *emulator.Options, f *emulatorFlags) error {
	cfg, err := config.Load(config.ExpandHome(f.configFile))
	if err != nil {
		return usageOrFailure(err)
	}
	var sc *config.MsgSigner
	switch {
	case f.section == "msg_signer" && cfg.MsgSigner != nil:
		sc = cfg.MsgSigner
	case f.section == "msg_batch_signer" && cfg.MsgBatchSigner != nil:
		sc = &cfg.MsgBatchSigner.MsgSigner
	default:
		return missingSection(cfg, f.section)
	}
	_, tlsCfg, err := msg.Credentials(sc, cfg.Path, f.section)
	if err != nil {
		return usageOrFailure(err)
	}
	opts.TLS = tlsCfg
	if len(opts.URLs) == 0 {
		opts.URLs = sc.MessagingBrokers
	}
	if opts.MessageIDKey == "" {
		opts.MessageIDKey = sc.MessageIDKey
	}
	opts.TaskIDAttribute = sc.TaskIDAttribute
	if opts.RequestAddress == "" {
		// Only signer-level fields can be known without a request.
		addr, err := sc.TopicSendTo.Format(map[string]string{"env": sc.Environment, "environment": sc.Environment, "service": sc.Service})
		if err != nil {
			return &exitError{code: ExitUsage, msg: fmt.Sprintf("%s.topic_send_to: %v (the emulator needs an address without per-operation fields; pass --request-address)", f.section, err)}
		}
		opts.RequestAddress = addr
	}
	if opts.ReplyAddress == "" {
		opts.ReplyAddress = config.Template(replyTemplate(string(sc.TopicListenTo), sc))
	}
	return nil
}

// replyTemplate rewrites a client's topic_listen_to into a template over
// request fields: {creator} is the request's requested_by, {env} the
// environment; {task_id} the emulator fills from the request itself.
func replyTemplate(listen string, sc *config.MsgSigner) string {
	r := strings.NewReplacer(
		"{creator}", "{requested_by}",
		"{env}", sc.Environment, "{environment}", sc.Environment, "{service}", sc.Service,
	)
	return r.Replace(listen)
}
