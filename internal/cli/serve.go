package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/logging"
	"github.com/release-engineering/pubtools-sign-go/internal/redact"
	"github.com/release-engineering/pubtools-sign-go/internal/retry"
	"github.com/release-engineering/pubtools-sign-go/signers/msg"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

func newServe() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the worker daemon: signing tasks from NATS in, result envelopes out",
		Long: "Takes pubtools-sign.task.v1 tasks from the NATS JetStream work queue (and NATS micro requests), signs them with\n" +
			"the configured signers and publishes one result envelope per task. Without nats.url it starts an embedded NATS\n" +
			"server. SIGTERM stops taking tasks and drains; a second SIGTERM exits at once.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadOptionalConfig(configFile, cmd.Flags().Changed("config-file"))
			if err != nil {
				return err
			}
			level, err := logging.ParseLevel(cfg.Log.Level)
			if err != nil {
				return &exitError{code: ExitUsage, msg: err.Error()}
			}
			log := logging.New(cmd.ErrOrStderr(), level, cfg.Log.Format)
			log = slog.New(logging.LimitRepeats(log.Handler(), cfg.Log.RepeatLimit, cfg.Log.RepeatInterval)).With("worker_id", cfg.Worker.ID)
			exitOnSecondSignal(log)
			return serve(cmd.Context(), cfg, log)
		},
	}
	cmd.Flags().StringVar(&configFile, "config-file", config.SearchPaths[0], "path to the config file (optional: defaults and PUBTOOLS_SIGN_* variables suffice)")
	return cmd
}

// loadOptionalConfig reads the config file if there is one; only a file
// named explicitly must exist.
func loadOptionalConfig(path string, explicit bool) (*config.File, error) {
	found, err := config.Find(path)
	if err != nil {
		if explicit {
			return nil, usageOrFailure(err)
		}
		found = ""
	}
	cfg, err := config.Load(found)
	if err != nil {
		return nil, usageOrFailure(err)
	}
	return cfg, nil
}

// exitOnSecondSignal: the first SIGTERM/SIGINT drains (through the command
// context), the second exits at once.
func exitOnSecondSignal(log *slog.Logger) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-sigs
		log.Info("signal received: draining (send again to exit at once)")
		<-sigs
		log.Warn("second signal: exiting now")
		os.Exit(130)
	}()
}

func serve(ctx context.Context, cfg *config.File, log *slog.Logger) error {
	started := time.Now()
	url, stopEmbedded, err := natsURL(cfg, log)
	if err != nil {
		return usageOrFailure(err)
	}
	defer stopEmbedded()
	nc, err := dialWorkerNATS(url, cfg, log)
	if err != nil {
		return usageOrFailure(err)
	}
	defer nc.Close()

	metrics := worker.NewMetrics()
	metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pubtools_sign_nats_reconnects_total", Help: "Reconnections to NATS."},
		func() float64 { return float64(nc.Stats().Reconnects) }))
	var jetStreamReady, running atomic.Bool
	readiness := &worker.Readiness{}
	readiness.Add(worker.ReadinessCheck{Name: "nats", Ready: nc.IsConnected},
		worker.ReadinessCheck{Name: "jetstream", Ready: jetStreamReady.Load},
		worker.ReadinessCheck{Name: "worker", Ready: running.Load})
	stopHTTP, err := serveHTTP(cfg, metrics, readiness, log)
	if err != nil {
		return usageOrFailure(err)
	}
	defer stopHTTP()
	if err := waitForJetStream(ctx, nc, cfg, log, func(ctx context.Context, js jetstream.JetStream) error {
		_, err := worker.EnsureStreams(ctx, js, &cfg.NATS)
		return err
	}); err != nil {
		return nil // stopped while waiting
	}
	jetStreamReady.Store(true)
	sigs, checks, closeSigners, err := buildSigners(ctx, cfg, metrics, log)
	if err != nil {
		return usageOrFailure(err)
	}
	defer closeSigners()
	readiness.Add(checks...)

	var w *worker.Worker
	if err := waitForJetStream(ctx, nc, cfg, log, func(ctx context.Context, _ jetstream.JetStream) error {
		w, err = worker.New(ctx, worker.Options{Config: cfg, Conn: nc, Signers: sigs, Metrics: metrics, Log: log})
		return err
	}); err != nil {
		return nil
	}
	return runWorker(ctx, w, cfg, nc, &running, func() {
		log.Info("worker ready", "nats", redact.URL(url), "startup_ms", time.Since(started).Milliseconds())
	}, log)
}

// natsURL is nats.url, or the URL of the embedded server it starts when
// nats.url is empty.
func natsURL(cfg *config.File, log *slog.Logger) (url string, stop func(), err error) {
	if cfg.NATS.URL != "" {
		return cfg.NATS.URL, func() {}, nil
	}
	emb, err := worker.StartEmbedded(cfg.NATS.EmbeddedListen, config.ExpandHome(cfg.NATS.DataDir))
	if err != nil {
		return "", nil, err
	}
	log.Info("embedded NATS server started", "url", emb.URL, "data_dir", config.ExpandHome(cfg.NATS.DataDir))
	return emb.URL, emb.Stop, nil
}

// runWorker serves micro requests and runs the worker until ctx ends and
// it drained; running is true in between (readiness).
func runWorker(ctx context.Context, w *worker.Worker, cfg *config.File, nc *nats.Conn, running *atomic.Bool, ready func(), log *slog.Logger) error {
	stopService, err := w.RegisterService(ctx, cfg.NATS.RequestSubject, semver())
	if err != nil {
		return usageOrFailure(err)
	}
	running.Store(true)
	ready()
	err = w.Run(ctx)
	running.Store(false)
	stopService()
	_ = nc.Drain()
	log.Info("worker stopped")
	return err
}

// dialWorkerNATS connects the daemon to NATS; NATS not there yet, it keeps
// trying in the background, like AMQP.
func dialWorkerNATS(url string, cfg *config.File, log *slog.Logger) (*nats.Conn, error) {
	return connectNATS(url, &cfg.NATS, "pubtools-sign "+cfg.Worker.ID,
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own close at shutdown
				log.Warn("NATS connection lost; reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "url", c.ConnectedUrlRedacted()) }))
}

// serveHTTP serves /healthz, /readyz and /metrics on http.listen (nothing
// when it is empty).
func serveHTTP(cfg *config.File, metrics *worker.Metrics, readiness *worker.Readiness, log *slog.Logger) (stop func(), err error) {
	if cfg.HTTP.Listen == "" {
		return func() {}, nil
	}
	srv := &http.Server{Handler: worker.ReadinessHTTPHandler(metrics, readiness), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, &config.Error{File: cfg.Path, Key: "http.listen", Problem: err.Error()}
	}
	go func() { _ = srv.Serve(ln) }()
	log.Info("serving /healthz /readyz /metrics", "listen", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// connectNATS dials NATS with the configured credentials and TLS, and
// keeps reconnecting for as long as the process runs.
func connectNATS(url string, n *config.NATS, name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(500 * time.Millisecond)}, extra...)
	if n.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(config.ExpandHome(n.CredsFile)))
	}
	if n.TLSCert != "" {
		opts = append(opts, nats.ClientCert(config.ExpandHome(n.TLSCert), config.ExpandHome(n.TLSKey)))
	}
	if n.TLSCA != "" {
		opts = append(opts, nats.RootCAs(config.ExpandHome(n.TLSCA)))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redact.URL(url), err)
	}
	return nc, nil
}

// buildSigners builds every signer of the registry (worker.Kinds) whose
// config section is present. Each messaging section is connected once;
// all its signers and all tasks share that connection. It returns the
// connections' readiness checks.
func buildSigners(ctx context.Context, cfg *config.File, m *worker.Metrics, log *slog.Logger) (worker.Signers, []worker.ReadinessCheck, func(), error) {
	var checks []worker.ReadinessCheck
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	connected := map[string]*msg.Signer{}
	connect := func(section string, sc *config.MsgSigner) (worker.MsgSigner, error) {
		if s, ok := connected[section]; ok {
			return s, nil
		}
		conn, err := connectWithRetry(ctx, sc, cfg.Path, section, log)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { conn.Close() })
		m.Registry.MustRegister(conn.Collectors(section)...)
		checks = append(checks, worker.ReadinessCheck{Name: "amqp " + section, Ready: conn.Ready})
		signer := conn.Signer(msg.Options{Config: sc, WorkerID: cfg.Worker.ID, Log: log.With("section", section), Observer: m})
		m.Registry.MustRegister(msg.WindowCollectors(signer.Window(), section)...)
		connected[section] = signer
		return signer, nil
	}
	sigs, err := worker.BuildSigners(ctx, &worker.BuildEnv{Config: cfg, Log: log, Msg: connect, Metrics: m.Registry})
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return sigs, checks, closeAll, nil
}

// connectWithRetry keeps dialing a section's brokers until they answer:
// a daemon started before its broker waits instead of crash-looping.
// Configuration mistakes end it at once.
func connectWithRetry(ctx context.Context, sc *config.MsgSigner, file, section string, log *slog.Logger) (*msg.Connection, error) {
	return retry.Do(ctx, retry.Policy{First: 500 * time.Millisecond, Max: 10 * time.Second}, func() (*msg.Connection, error) {
		conn, err := msg.Connect(ctx, sc, file, section, log.With("section", section))
		var cfgErr *config.Error
		if errors.As(err, &cfgErr) {
			return nil, retry.Permanent(err)
		}
		return conn, err
	}, func(err error, next time.Duration) {
		log.Warn("messaging broker not reachable yet; retrying", "section", section, "error", err, "in", next.Round(time.Millisecond))
	})
}

// waitForJetStream runs setup (streams, consumers) until it succeeds,
// retrying with backoff while NATS is unreachable or JetStream has no
// leader yet, as the AMQP side waits for its brokers; it fails only when
// ctx ends.
func waitForJetStream(ctx context.Context, nc *nats.Conn, cfg *config.File, log *slog.Logger, setup func(context.Context, jetstream.JetStream) error) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = retry.Do(ctx, retry.Policy{First: 250 * time.Millisecond, Max: 5 * time.Second}, func() (struct{}, error) {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return struct{}{}, setup(actx, js)
	}, func(err error, next time.Duration) {
		log.Warn("NATS JetStream not ready yet; retrying", "connected", nc.IsConnected(), "error", err, "in", next.Round(time.Millisecond),
			"tasks_stream", cfg.NATS.TasksStream, "results_stream", cfg.NATS.ResultsStream)
	})
	return err
}
