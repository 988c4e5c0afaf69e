package msg

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
	"github.com/release-engineering/pubtools-sign-go/config"
)

// Connection is a configured section's live link to the signing server:
// the AMQP client, the pending map its router resolves, and the creator
// read from the client certificate.
type Connection struct {
	Client  *amqp.Client
	Router  *broker.ReplyRouter
	Pending *broker.PendingRequests
	Creator string
}

// Close closes the AMQP connection.
func (c *Connection) Close() error { return c.Client.Close() }

// Credentials reads what a section's certificates say: the TLS
// configuration and the creator. Problems are *config.Error.
func Credentials(cfg *config.MsgSigner, file, section string) (creator string, tlsCfg *tls.Config, err error) {
	certKey := config.ExpandHome(cfg.MessagingCertKey)
	ca := config.ExpandHome(cfg.MessagingCACert)
	if certKey != "" {
		creator, err = CreatorFromCert(certKey)
		if err != nil && !errors.Is(err, ErrNoCreator) {
			return "", nil, &config.Error{File: file, Key: section + ".messaging_cert_key", Problem: err.Error()}
		}
	}
	needTLS := false
	for _, u := range cfg.MessagingBrokers {
		needTLS = needTLS || strings.HasPrefix(u, "amqps://")
	}
	if !needTLS {
		return creator, nil, nil
	}
	t, err := amqp.LoadTLS(certKey, ca)
	if err != nil {
		key := section + ".messaging_cert_key"
		if strings.Contains(err.Error(), "CA") {
			key = section + ".messaging_ca_cert"
		}
		return "", nil, &config.Error{File: file, Key: key, Problem: err.Error()}
	}
	return creator, t, nil
}

// Connect dials the section's brokers.
func Connect(ctx context.Context, cfg *config.MsgSigner, file, section string, log *slog.Logger) (*Connection, error) {
	creator, tlsCfg, err := Credentials(cfg, file, section)
	if err != nil {
		return nil, err
	}
	pending := broker.NewPendingRequests()
	router := broker.NewReplyRouter(cfg.MessageIDKey, pending, log)
	client, err := amqp.Dial(ctx, amqp.Options{
		URLs: cfg.MessagingBrokers, TLS: tlsCfg, ConnectTimeout: cfg.ConnectTimeout,
		SendWindow: cfg.SendWindow, CreditWindow: cfg.CreditWindow, WriteCoalesce: cfg.WriteCoalesce, Sink: router, Log: log,
		ContainerID: containerID(creator),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to messaging brokers: %w", err)
	}
	return &Connection{Client: client, Router: router, Pending: pending, Creator: creator}, nil
}
