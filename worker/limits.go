package worker

import (
	"fmt"
	"regexp"

	"github.com/release-engineering/pubtools-sign-go/config"
)

// Limits bound what one task may cost a replica. They are checked when
// the task is decoded, before anything is allocated per signing request.
// A zero field means the configuration default.
type Limits struct {
	// MaxTaskBytes is worker.max_task_bytes.
	MaxTaskBytes int
	// MaxRequests is worker.max_requests_per_task.
	MaxRequests int
	// MaxInputBytes is worker.max_input_bytes.
	MaxInputBytes int
}

// LimitsOf reads the limits of a worker section.
func LimitsOf(w *config.Worker) Limits {
	return Limits{MaxTaskBytes: w.MaxTaskBytes, MaxRequests: w.MaxRequestsPerTask, MaxInputBytes: w.MaxInputBytes}
}

// orDefaults fills zero fields from the configuration defaults.
func (l Limits) orDefaults() Limits {
	d := config.Defaults().Worker
	if l.MaxTaskBytes <= 0 {
		l.MaxTaskBytes = d.MaxTaskBytes
	}
	if l.MaxRequests <= 0 {
		l.MaxRequests = d.MaxRequestsPerTask
	}
	if l.MaxInputBytes <= 0 {
		l.MaxInputBytes = d.MaxInputBytes
	}
	return l
}

// DecodeTaskWithin is DecodeTask under every limit of l: a task whose
// requests or input bytes exceed them is refused with an error naming the
// limit and the numbers.
func DecodeTaskWithin(data []byte, l Limits) (*Task, error) {
	l = l.orDefaults()
	t, err := decodeTask(data, l.MaxTaskBytes)
	if err != nil {
		return t, err
	}
	if err := t.checkLimits(l); err != nil {
		return t, err
	}
	if err := checkRequester(t.Requester); err != nil {
		return t, err
	}
	return t, nil
}

// requesterPattern is what a requester may be: it names the request's
// owner in headers and, in most configurations ({creator} in
// topic_listen_to), part of an AMQP address, where '/', wildcards and
// non-ASCII change what the address means. The msg signer checks templated
// values once more, strictly, against its own templates.
var requesterPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_@+-]*(\.[A-Za-z0-9_@+-]+)*$`)

func checkRequester(r string) error {
	if r == "" || (len(r) <= 200 && requesterPattern.MatchString(r)) {
		return nil
	}
	return &TaskError{Field: "requester", Problem: fmt.Sprintf(
		"want letters, digits, '_', '@', '+', '-' and single dots, at most 200 characters, got %+q", clip(r, 64))}
}

// checkLimits counts the task's signing requests and input bytes without
// building any of them. Products are computed in int64 after checking
// each factor, so 90,000 × 90,000 cannot overflow into a small number.
func (t *Task) checkLimits(l Limits) error {
	keys := int64(len(t.SigningKeys))
	items, field := int64(len(t.References)), "references"
	if k, _ := LookupKind(t.Signer); k != nil && k.SignsInputs {
		items, field = int64(len(t.Inputs)), "inputs"
	}
	if n := items * keys; n > int64(l.MaxRequests) {
		return &TaskError{Field: field, Problem: fmt.Sprintf(
			"%d %s × %d signing keys make %d signing requests, over the worker.max_requests_per_task limit of %d: split the task",
			items, field, keys, n, l.MaxRequests)}
	}
	if field != "inputs" {
		return nil
	}
	var size int64
	for _, in := range t.Inputs {
		size += int64(len(in))
	}
	if n := size * keys; n > int64(l.MaxInputBytes) {
		return &TaskError{Field: "inputs", Problem: fmt.Sprintf(
			"%d input bytes × %d signing keys make %d bytes to sign, over the worker.max_input_bytes limit of %d: split the task",
			size, keys, n, l.MaxInputBytes)}
	}
	return nil
}
