package config

import (
	"fmt"
	"os"
	"time"
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
		},
		HTTP: HTTP{Listen: "127.0.0.1:9464"},
		Log:  Log{Level: "info", Format: "auto"},
	}
}

// applyDefaults fills what the file left out. Python's dataclass defaults
// for timeout/retries/send_retries/task_id_attribute are kept.
func (m *MsgSigner) applyDefaults() {
	setIfZero(&m.Timeout, 60)
	setIfZero(&m.Retries, 3)
	setIfZero(&m.SendRetries, 2)
	setIfZero(&m.TaskIDAttribute, "pub_task_id")
	setIfZero(&m.SendWindow, 256)
	setIfZero(&m.CreditWindow, 500)
	setIfZero(&m.ConnectTimeout, 10*time.Second)
}

func (c *CosignSigner) applyDefaults() {
	setIfZero(&c.CosignBin, "/usr/bin/cosign")
	setIfZero(&c.Timeout, "3m0s")
	setIfZero(&c.NumThreads, 10)
	setIfZero(&c.Retries, 3)
	if c.UploadTlog == nil {
		on := true
		c.UploadTlog = &on
	}
}

func setIfZero[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
