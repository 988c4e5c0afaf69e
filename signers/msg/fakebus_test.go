package msg

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/config"
)

// fakeBus records requests and lets a test play the signing server: each
// published request is passed to answer, whose replies go through a real
// ReplyRouter. It is for logic tests only; integration tests use RabbitMQ.
type fakeBus struct {
	mu          sync.Mutex
	router      *broker.ReplyRouter
	listening   map[string]bool
	published   []*broker.Request
	sendsByID   map[string]int
	answer      func(r *broker.Request, attempt int) []string // reply bodies
	reconnected chan struct{}
	events      []string
}

func newFakeBus(pending *broker.PendingRequests) *fakeBus {
	return &fakeBus{
		router:    broker.NewReplyRouter("request_id", pending, slog.New(slog.NewTextHandler(io.Discard, nil))),
		listening: map[string]bool{}, sendsByID: map[string]int{}, reconnected: make(chan struct{}),
	}
}

func (b *fakeBus) Listen(_ context.Context, address string, _ bool) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.listening[address] = true
	b.events = append(b.events, "listen "+address)
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.listening[address] = false
	}, nil
}

func (b *fakeBus) Publish(_ context.Context, reqs broker.Requests) error {
	for i := range reqs.Len() {
		r := reqs.At(i)
		b.mu.Lock()
		b.published = append(b.published, r)
		b.sendsByID[r.ID]++
		attempt := b.sendsByID[r.ID]
		b.events = append(b.events, "publish "+r.ID)
		answer := b.answer
		b.mu.Unlock()
		if answer == nil {
			continue
		}
		for _, body := range answer(r, attempt) {
			b.router.Route("reply", []byte(body), map[string]any{"mtype": "reply"})
		}
	}
	return nil
}

func (b *fakeBus) Reconnected() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reconnected
}

// okReply is a reply echoing the request id.
func okReply(r *broker.Request) string {
	var body map[string]any
	_ = json.Unmarshal(r.Body, &body)
	out, _ := json.Marshal(map[string]any{"msg": map[string]any{"request_id": r.ID, "errors": []string{}, "signed_claim": "sig-" + r.ID}})
	return string(out)
}

func testConfig() *config.MsgSigner {
	c := &config.MsgSigner{
		MessagingBrokers: []string{"amqp://127.0.0.1:5672"},
		TopicSendTo:      "/topic/robosignatory.{env}.sign",
		TopicListenTo:    "/topic/robosignatory.{env}.client.{creator}.{task_id}",
		Environment:      "prod", Service: "pubtools-sign", MessageIDKey: "request_id",
		Timeout: 1, Retries: 2, SendRetries: 2, TaskIDAttribute: "pub_task_id",
		KeyAliases: map[string]string{"beta": "4096R/0123456789ABCDEF"},
	}
	return c
}

func newTestSigner(t *testing.T, cfg *config.MsgSigner, answer func(*broker.Request, int) []string) (*Signer, *fakeBus, *broker.PendingRequests) {
	t.Helper()
	pending := broker.NewPendingRequests()
	bus := newFakeBus(pending)
	bus.answer = answer
	n := 0
	s := New(Options{
		Config: cfg, Bus: bus, Pending: pending, Creator: "pubtools-sign-test",
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		TimeoutUnit: 50 * time.Millisecond,
		Now:         func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC) },
		NewID: func() string {
			n++
			return "id-" + string(rune('0'+n))
		},
	})
	return s, bus, pending
}
