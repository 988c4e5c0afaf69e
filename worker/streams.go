package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/release-engineering/pubtools-sign-go/config"
)

// TasksStreamConfig is the tasks stream the daemon creates when it is
// missing: a work queue over tasks_subject, on nats.stream_replicas
// servers.
func TasksStreamConfig(n *config.NATS) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: n.TasksStream, Subjects: []string{n.TasksSubject}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute, MaxAge: n.TasksMaxAge,
		Replicas: n.StreamReplicas, Placement: placement(n),
	}
}

// ResultsStreamConfig is the results stream the daemon creates when it is
// missing.
func ResultsStreamConfig(n *config.NATS) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: n.ResultsStream, Subjects: []string{n.ResultsPrefix + ".>"}, Storage: jetstream.FileStorage,
		// Direct get names the subject in the API subject, so NATS
		// permissions can let a tenant look up only its own envelopes.
		// (The worker's own lookups ask the leader: LeaderStoredEnvelope.)
		AllowDirect: true,
		// One envelope per task id even when a task is redelivered late.
		Duplicates: time.Hour, MaxAge: n.ResultsMaxAge,
		Replicas: n.StreamReplicas, Placement: placement(n),
	}
}

func placement(n *config.NATS) *jetstream.Placement {
	if len(n.PlacementTags) == 0 {
		return nil
	}
	return &jetstream.Placement{Tags: n.PlacementTags}
}

// EnsureStreams creates the tasks and results streams if they are missing
// (an operator's own stream settings, such as replication, are left
// alone) and returns the results stream. It creates no consumer: that is
// serve's job (EnsureConsumers).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, n *config.NATS) (jetstream.Stream, error) {
	if _, err := ensureStream(ctx, js, TasksStreamConfig(n)); err != nil {
		return nil, fmt.Errorf("tasks stream %s: %w", n.TasksStream, err)
	}
	results, err := ensureStream(ctx, js, ResultsStreamConfig(n))
	if err != nil {
		return nil, fmt.Errorf("results stream %s: %w", n.ResultsStream, err)
	}
	return results, nil
}

// ensureStream returns the stream, creating it with cfg if it is missing.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}
	s, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another replica won the race
		return js.Stream(ctx, cfg.Name)
	}
	return s, err
}

// TasksPrefix is tasks_subject without its trailing ".>".
func TasksPrefix(n *config.NATS) string {
	p, _ := strings.CutSuffix(n.TasksSubject, ".>")
	return p
}

// ConsumerName is the durable consumer of one signer's tasks.
func ConsumerName(n *config.NATS, signer string) string {
	return n.Consumer + "-" + signer
}

// ConsumerConfig is the consumer of one signer's tasks that serve creates
// when it is missing: <tasks prefix>.<tenant>.<signer>, and the older
// <tasks prefix>.<signer> without a tenant.
func ConsumerConfig(n *config.NATS, signer string) jetstream.ConsumerConfig {
	prefix := TasksPrefix(n)
	return jetstream.ConsumerConfig{
		Durable: ConsumerName(n, signer), AckPolicy: jetstream.AckExplicitPolicy, AckWait: n.AckWait,
		MaxDeliver: n.MaxDeliver, MaxAckPending: -1,
		FilterSubjects: []string{prefix + ".*." + signer, prefix + "." + signer},
		// Replicas 0: as many as the stream has.
	}
}

// EnsureConsumers returns the durable consumers of the given signers,
// creating those that are missing. An existing consumer is never changed:
// an operator's ack_wait or max_deliver survives every restart.
func EnsureConsumers(ctx context.Context, js jetstream.JetStream, n *config.NATS, signerNames []string) ([]jetstream.Consumer, error) {
	var out []jetstream.Consumer
	for _, s := range signerNames {
		cfg := ConsumerConfig(n, s)
		c, err := js.Consumer(ctx, n.TasksStream, cfg.Durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			c, err = js.CreateConsumer(ctx, n.TasksStream, cfg)
			if errors.Is(err, jetstream.ErrConsumerExists) { // another replica won the race
				c, err = js.Consumer(ctx, n.TasksStream, cfg.Durable)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("consumer %s on stream %s: %w%s", cfg.Durable, n.TasksStream, err, legacyHint(err))
		}
		out = append(out, c)
	}
	return out, nil
}

// legacyHint explains the error a work queue gives when a consumer without
// a filter (the single shared consumer of earlier versions) is still there.
func legacyHint(err error) string {
	var apiErr *jetstream.APIError
	// JSConsumerWQMultipleUnfiltered and JSConsumerWQConsumerNotUnique.
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10099 || apiErr.ErrorCode == 10100) {
		return " (an older consumer of the work queue overlaps; once it has no pending tasks delete it: nats consumer rm)"
	}
	return ""
}

// RetireSharedConsumer removes the single unfiltered consumer of earlier
// versions (named nats.consumer itself), which a work queue does not allow
// next to the per-signer consumers, once no replica holds a task of it:
// its queued tasks stay in the stream for the new consumers. While an old
// replica still holds some it returns an error (serve asks again).
func RetireSharedConsumer(ctx context.Context, js jetstream.JetStream, n *config.NATS, log *slog.Logger) error {
	c, err := js.Consumer(ctx, n.TasksStream, n.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("consumer %s: %w", n.Consumer, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", n.Consumer, err)
	}
	if info.Config.FilterSubject != "" || len(info.Config.FilterSubjects) > 0 {
		return nil // someone's own filtered consumer: not ours to remove
	}
	if info.NumAckPending > 0 {
		return fmt.Errorf("the shared consumer %s of an earlier version still has %d tasks in hand; waiting for them before replacing it with one consumer per signer",
			n.Consumer, info.NumAckPending)
	}
	if err := js.DeleteConsumer(ctx, n.TasksStream, n.Consumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("remove the shared consumer %s: %w", n.Consumer, err)
	}
	log.Info("removed the shared consumer of an earlier version; its queued tasks go to the per-signer consumers",
		"consumer", n.Consumer, "queued", info.NumPending)
	return nil
}
