// Package slowserver gives a benchmark a signing environment of its own on
// the project's broker: a configuration file whose private topics only a
// capacity-bounded emulator (FIFO, so many requests/s) serves.
package slowserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/signers/msg"
)

// Env is one private environment; Close ends it.
type Env struct {
	// Conf is the configuration file's path: sc's brokers and
	// certificates, the private topics and the extra msg_signer lines.
	Conf   string
	Server *emulator.Server
	dir    string
}

// Start writes the configuration and starts the emulator serving rate
// requests/s, counting a request served later than staleAfter after it was
// sent as stale. extra holds more msg_signer lines ("  timeout: 5\n").
func Start(sc *config.MsgSigner, rate float64, staleAfter time.Duration, extra string) (*Env, error) {
	name := "flow" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	dir, err := os.MkdirTemp("", "slowserver")
	if err != nil {
		return nil, err
	}
	e := &Env{Conf: filepath.Join(dir, "conf.yaml"), dir: dir}
	body := fmt.Sprintf(`msg_signer:
  messaging_brokers: [%s]
  messaging_cert_key: %s
  messaging_ca_cert: %s
  topic_send_to: /topic/robosignatory.{env}.sign
  topic_listen_to: /topic/robosignatory.{env}.client.{creator}.{task_id}
  environment: %s
  service: pubtools-sign
  message_id_key: request_id
%s`, strings.Join(sc.MessagingBrokers, ", "), sc.MessagingCertKey, sc.MessagingCACert, name, extra)
	if err := os.WriteFile(e.Conf, []byte(body), 0o600); err != nil {
		e.Close()
		return nil, err
	}
	_, tlsCfg, err := msg.Credentials(sc, "", "msg_signer")
	if err != nil {
		e.Close()
		return nil, err
	}
	capacity := emulator.CapacityPerSecond(rate)
	capacity.StaleAfter = staleAfter
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.Server, err = emulator.Start(ctx, emulator.Options{
		URLs: sc.MessagingBrokers, TLS: tlsCfg, RequestAddress: "/topic/robosignatory." + name + ".sign",
		ReplyAddress: config.Template("/topic/robosignatory." + name + ".client.{requested_by}.{task_id}"),
		Capacity:     capacity, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops the emulator and removes the configuration.
func (e *Env) Close() {
	if e.Server != nil {
		e.Server.Close()
	}
	os.RemoveAll(e.dir)
}
