package config

import (
	"fmt"
	"os"
	"time"

	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
)

// SearchPaths are the files tried, in order, when no --config-file exists:
// the Python tool's locations.
var SearchPaths = []string{"~/.config/pubtools-sign/conf.yaml", "/etc/pubtools-sign/conf.yaml"}

// Defaults returns a configuration with every daemon key at its default
// and no signer section.
func Defaults() *File {
	host, _ := os.Hostname()
	return &File{
		Worker: Worker{
			ID:            fmt.Sprintf("%s-%d", host, os.Getpid()),
			Concurrency:   64,
			ShutdownGrace: 30 * time.Second,
			MaxTaskBytes:  1 << 20,
			// 10,000 references × 10 keys.
			MaxRequestsPerTask: 100_000,
			MaxInputBytes:      64 << 20,
			// One CLI run's worth (num_threads' default): cosign is ~0.4 s
			// of CPU per image and tens of MiB per process.
			MaxCosignProcesses: 10,
		},
		NATS: NATS{
			EmbeddedListen: "127.0.0.1:4222",
			DataDir:        "~/.local/share/pubtools-sign/nats",
			TasksStream:    "PUBTOOLS_SIGN_TASKS",
			TasksSubject:   "pubtools.sign.tasks.>",
			ResultsStream:  "PUBTOOLS_SIGN_RESULTS",
			ResultsPrefix:  "pubtools.sign.results",
			Consumer:       "pubtools-sign-workers",
			RequestSubject: "pubtools.sign.request",
			AckWait:        60 * time.Second,
			MaxDeliver:     5,
			StreamReplicas: 1,
			ResultsMaxAge:  7 * 24 * time.Hour,
			PullExpiry:     4 * time.Second,
			StoreTimeout:   5 * time.Minute,
			TasksMaxAge:    24 * time.Hour,
			ResultsBucket:  "PUBTOOLS_SIGN_ENVELOPES",
		},
		HTTP: HTTP{Listen: "127.0.0.1:9464"},
		Log:  Log{Level: "info", Format: "auto", RepeatLimit: 20, RepeatInterval: time.Minute},
	}
}

// applyDefaults fills what the file and the environment left out (given
// says which keys they set). Python's dataclass defaults for
// timeout/retries/send_retries/task_id_attribute are kept.
func (m *MsgSigner) applyDefaults(given func(key string) bool) {
	setDefault(given, "timeout", &m.Timeout, 60)
	setDefault(given, "retries", &m.Retries, 3)
	setDefault(given, "send_retries", &m.SendRetries, 2)
	setDefault(given, "task_id_attribute", &m.TaskIDAttribute, "pub_task_id")
	setDefault(given, "send_window", &m.SendWindow, amqp.DefaultSendWindow)
	setDefault(given, "credit_window", &m.CreditWindow, amqp.DefaultCreditWindow)
	setDefault(given, "connect_timeout", &m.ConnectTimeout, amqp.DefaultConnectTimeout)
	setDefault(given, "max_in_flight", &m.MaxInFlight, 1000)
	setDefault(given, "target_queue_delay", &m.TargetQueueDelay, time.Second)
	setDefault(given, "write_coalesce", &m.WriteCoalesce, amqp.DefaultWriteCoalesce)
}

// applyDefaults fills the shared keys and chunk_size.
func (b *MsgBatchSigner) applyDefaults(given func(key string) bool) {
	b.MsgSigner.applyDefaults(given)
	setDefault(given, "chunk_size", &b.ChunkSize, 100)
}

// ReferenceDefaults is Defaults with every signer section present at its
// own defaults: what the generated configuration reference shows.
func ReferenceDefaults() *File {
	f := Defaults()
	f.Worker.ID = "" // host-pid: computed at start
	none := func(string) bool { return false }
	f.MsgSigner = &MsgSigner{}
	f.MsgSigner.applyDefaults(none)
	f.MsgBatchSigner = &MsgBatchSigner{}
	f.MsgBatchSigner.applyDefaults(none)
	f.CosignSigner = &CosignSigner{}
	f.CosignSigner.applyDefaults(none)
	return f
}

func (c *CosignSigner) applyDefaults(given func(key string) bool) {
	setDefault(given, "cosign_bin", &c.CosignBin, "/usr/bin/cosign")
	setDefault(given, "timeout", &c.Timeout, "3m0s")
	setDefault(given, "num_threads", &c.NumThreads, 10)
	setDefault(given, "retries", &c.Retries, 3)
	if c.UploadTlog == nil {
		on := true
		c.UploadTlog = &on
	}
}

// setDefault sets *p to v unless key was given (or *p is already set).
func setDefault[T comparable](given func(string) bool, key string, p *T, v T) {
	var zero T
	if *p == zero && !given(key) {
		*p = v
	}
}
