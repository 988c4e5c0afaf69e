package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
)

// An envelope is about 1,150 bytes per reference: past ~900 references it
// no longer fits in one NATS message (max_payload, 1 MB by default). Such
// an envelope is stored whole in a JetStream Object Store bucket
// (nats.results_bucket + "_" + tenant) and the results subject gets a small envelope of
// the same schema that points at it ("envelope_object"), so every task has
// exactly one answer whatever its size. ResolveEnvelope turns the pointer
// back into the envelope for readers.

// EnvelopeObject is where a large envelope is stored.
type EnvelopeObject struct {
	Bucket string `json:"bucket"`
	Name   string `json:"name"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

// objectPutTimeout bounds storing one large envelope (100 MB at the
// default limits).
const objectPutTimeout = 2 * time.Minute

// payloadHeadroom is left of the server's max payload for headers and the
// subject.
const payloadHeadroom = 8 << 10

// resultsMaxAge is how long envelopes are kept: the results stream's age
// (nats.results_max_age, 0: for ever), which the bucket's TTL follows.
func resultsMaxAge(n *config.NATS) time.Duration { return n.ResultsMaxAge }

// EnvelopeBucket is the Object Store bucket of tenant's large envelopes:
// <results_bucket>_<tenant>, one per tenant so NATS permissions can give
// each tenant its own bucket and no other (deploy/nats/tenants.conf).
func EnvelopeBucket(resultsBucket, tenant string) string {
	if tenant == "" {
		return resultsBucket
	}
	return resultsBucket + "_" + tenant
}

// encodeFitting encodes env for subject so that it fits in one NATS
// message: as is, or stored in the envelopes bucket (named after subject)
// behind a pointer envelope. A result that keeps its replies in a spool
// (thousands of them) is encoded through an unlinked temporary file and
// streamed into the bucket, so its envelope, ~1,150 bytes per reference,
// never sits in memory whole.
func (w *Worker) encodeFitting(ctx context.Context, env *Envelope, subject string) ([]byte, error) {
	if env.stored != nil || env.published != nil || env.encoded != nil || env.Result == nil || env.Result.Spool == nil {
		data, err := env.Encode()
		if err != nil {
			return nil, err
		}
		return w.fitPayload(ctx, env, subject, data)
	}
	f, err := os.CreateTemp("", "pubtools-sign-envelope-*")
	if err != nil {
		return nil, fmt.Errorf("envelope file: %w", err)
	}
	defer f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return nil, fmt.Errorf("unlink envelope file: %w", err)
	}
	sum := sha256.New()
	if err := env.encodeTo(io.MultiWriter(f, sum)); err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("envelope file: %w", err)
	}
	if size <= w.payloadLimit() {
		data := make([]byte, size)
		if _, err := f.ReadAt(data, 0); err != nil {
			return nil, fmt.Errorf("envelope file: %w", err)
		}
		return data, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("envelope file: %w", err)
	}
	obj := EnvelopeObject{Bucket: EnvelopeBucket(w.cfg.NATS.ResultsBucket, env.Tenant), Name: subject, Size: int(size), SHA256: hex.EncodeToString(sum.Sum(nil))}
	return w.storeObject(ctx, env, obj, f)
}

// payloadLimit is the largest envelope sent as one NATS message.
func (w *Worker) payloadLimit() int64 { return w.nc.MaxPayload() - payloadHeadroom }

// fitPayload returns data if it fits in one NATS message, else stores it
// in the envelopes bucket under name and returns the pointer envelope.
func (w *Worker) fitPayload(ctx context.Context, env *Envelope, name string, data []byte) ([]byte, error) {
	if int64(len(data)) <= w.payloadLimit() {
		return data, nil
	}
	sum := sha256.Sum256(data)
	obj := EnvelopeObject{Bucket: EnvelopeBucket(w.cfg.NATS.ResultsBucket, env.Tenant), Name: name, Size: len(data), SHA256: hex.EncodeToString(sum[:])}
	return w.storeObject(ctx, env, obj, bytes.NewReader(data))
}

// storeObject puts an envelope in the bucket and returns its pointer.
func (w *Worker) storeObject(ctx context.Context, env *Envelope, obj EnvelopeObject, r io.Reader) ([]byte, error) {
	// Like the envelope's publish: shutdown does not cut it short, a bound
	// does.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), objectPutTimeout)
	defer cancel()
	store, err := w.bigEnvelopes.get(ctx, obj.Bucket, w.openEnvelopeBucket)
	if err != nil {
		return nil, err
	}
	if _, err := store.Put(ctx, jetstream.ObjectMeta{Name: obj.Name}, r); err != nil {
		return nil, fmt.Errorf("store %d-byte envelope in %s/%s: %w", obj.Size, obj.Bucket, obj.Name, err)
	}
	w.log.Info("envelope over the NATS max payload stored as an object", "task_id", env.TaskID,
		"bytes", obj.Size, "max_payload", w.nc.MaxPayload(), "bucket", obj.Bucket, "object", obj.Name)
	return pointerEnvelope(env, obj)
}

// pointerEnvelope is the envelope's lead members and signer_result, plus
// envelope_object naming where the whole envelope is.
func pointerEnvelope(env *Envelope, obj EnvelopeObject) ([]byte, error) {
	o := append(env.lead(),
		pyjson.Member{Key: "signer_result", Value: env.Result.SignerResult},
		pyjson.Member{Key: "envelope_object", Value: pyjson.Object{
			{Key: "bucket", Value: obj.Bucket}, {Key: "name", Value: obj.Name},
			{Key: "size", Value: obj.Size}, {Key: "sha256", Value: obj.SHA256},
		}},
	)
	return pyjson.Marshal(o)
}

// ResolveEnvelope returns the envelope data stands for: data itself, or,
// for a pointer envelope, the stored envelope it names (checked against
// its size and digest).
func ResolveEnvelope(ctx context.Context, js jetstream.JetStream, data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte(`"envelope_object"`)) {
		return data, nil
	}
	var ptr struct {
		Object *EnvelopeObject `json:"envelope_object"`
	}
	if err := json.Unmarshal(data, &ptr); err != nil || ptr.Object == nil {
		return data, nil // not a pointer after all
	}
	o := ptr.Object
	// Direct gets only: all a tenant's account may do on its bucket.
	full, err := readObject(ctx, js.Conn(), o.Bucket, o.Name, o.Size)
	if err != nil {
		return nil, fmt.Errorf("envelope object %s/%s: %w", o.Bucket, o.Name, err)
	}
	sum := sha256.Sum256(full)
	if len(full) != o.Size || hex.EncodeToString(sum[:]) != o.SHA256 {
		return nil, fmt.Errorf("envelope object %s/%s: %d bytes with sha256 %x, want %d bytes with %s",
			o.Bucket, o.Name, len(full), sum, o.Size, o.SHA256)
	}
	return full, nil
}
