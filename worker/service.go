package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// ServiceName is the NATS micro service name every replica registers, so
// `nats micro ls|info|stats pubtools-sign` shows them all.
const ServiceName = "pubtools-sign"

// RegisterService registers the micro service and returns at once (Run is
// what blocks): a core NATS request to subject (a task) is answered with
// its envelope, which is also stored like any other. Requests share the
// replica's task slots. The returned stop waits for requests in progress.
//
// micro times a request by how long its handler runs, and a micro
// endpoint runs one handler at a time. So each handler signs in place
// (`nats micro stats` then shows the signing time, not a hand-off) and
// the replica registers one endpoint per task slot, all on subject.* in
// one queue group, to serve worker.concurrency requests at once.
func (w *Worker) RegisterService(ctx context.Context, subject, version string) (stop func(), err error) {
	var wg sync.WaitGroup
	handler := micro.HandlerFunc(func(req micro.Request) {
		route := ParseRequestSubject(subject, req.Subject(), req.Reply())
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			answerError(route, req, "503", "worker shutting down")
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer func() { <-w.slots }()
		w.handleRequest(ctx, route, req)
	})
	svc, err := micro.AddService(w.nc, micro.Config{
		Name: ServiceName, Version: version,
		Description: "Signs containers, clear text and blobs; send a pubtools-sign.task.v1 task, get its envelope",
		Metadata:    map[string]string{"worker_id": w.cfg.Worker.ID},
	})
	if err != nil {
		return nil, fmt.Errorf("register NATS micro service %s: %w", ServiceName, err)
	}
	for i := 0; i < cap(w.slots); i++ {
		// One subject for every tenant: <subject>.<tenant>, which NATS
		// permissions let only that tenant publish to.
		if err := svc.AddEndpoint(fmt.Sprintf("tasks-%d", i), handler, micro.WithEndpointSubject(subject+".*")); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("register NATS micro service %s: %w", ServiceName, err)
		}
	}
	// The endpoint answers only once the server has its subscription:
	// make that true before saying the service is up.
	if err := w.nc.FlushTimeout(5 * time.Second); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("register NATS micro service %s: %w", ServiceName, err)
	}
	return func() {
		_ = svc.Stop()
		wg.Wait()
	}, nil
}

func (w *Worker) handleRequest(ctx context.Context, route Route, req micro.Request) {
	env, err := w.execute(ctx, route, req.Data(), nats.Header(req.Headers()), 1)
	if errors.Is(err, ErrAskLater) {
		answerError(route, req, "503", "try again later: "+err.Error())
		return
	}
	if err != nil {
		answerError(route, req, "503", "worker shutting down: "+err.Error())
		return
	}
	if err := w.publish(ctx, env); err != nil {
		w.log.Error("store envelope failed", "task_id", env.TaskID, "error", err)
	}
	if !route.ReplyAllowed() {
		// Answering would publish with the daemon's rights wherever the
		// requester chose; the refusal is in the results stream instead.
		w.log.Warn("request not answered: its reply subject is not the tenant's inbox", "tenant", route.Tenant, "reply", route.Reply, "task_id", env.TaskID)
		return
	}
	// The same bytes publish stored: Encode encodes once.
	data, err := env.Encode()
	if err != nil {
		answerError(route, req, "500", err.Error())
		return
	}
	if err := req.Respond(data); err != nil {
		// Most likely over the server's max_payload: say so rather than
		// leave the requester to time out.
		answerError(route, req, "500", fmt.Sprintf("send envelope (%d bytes): %v", len(data), err))
	}
}

// answerError sends a micro error only to a reply subject the tenant may
// use: even an empty error message on $KV.… would be a write.
func answerError(route Route, req micro.Request, code, description string) {
	if route.ReplyAllowed() {
		_ = req.Error(code, description, nil)
	}
}
