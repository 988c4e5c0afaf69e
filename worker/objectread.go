package worker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// directGet asks stream for one message with a direct get carrying a
// request body ($JS.API.DIRECT.GET.<stream>); nil without error when the
// stream has none.
func directGet(ctx context.Context, nc *nats.Conn, stream string, req any) (*nats.Msg, error) {
	body, _ := json.Marshal(req)
	resp, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+stream, body)
	if err != nil {
		return nil, err
	}
	if status := resp.Header.Get("Status"); len(resp.Data) == 0 && status != "" {
		if status == "404" {
			return nil, nil
		}
		return nil, fmt.Errorf("direct get on %s: %s %s", stream, status, resp.Header.Get("Description"))
	}
	if resp.Header.Get(jetstream.StreamHeader) != stream {
		return nil, fmt.Errorf("direct get on %s: not a direct get answer", stream)
	}
	return resp, nil
}

// readObject reads object name of Object Store bucket with direct gets
// only — its meta message, then its chunks one by one — instead of the
// Object Store client, which needs stream info and a push consumer. A
// tenant's NATS account is granted nothing more on its own envelopes
// bucket (deploy/nats/tenants.conf): a consumer created through the
// signing account would deliver on any subject there the tenant names.
// It reads at most limit bytes.
func readObject(ctx context.Context, nc *nats.Conn, bucket, name string, limit int) ([]byte, error) {
	stream := "OBJ_" + bucket
	meta, err := directGet(ctx, nc, stream, map[string]string{"last_by_subj": "$O." + bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(name))})
	if err != nil {
		return nil, err
	}
	if meta == nil {
		return nil, fmt.Errorf("no object %s in bucket %s", name, bucket)
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(meta.Data, &info); err != nil {
		return nil, fmt.Errorf("object %s/%s: meta: %w", bucket, name, err)
	}
	if info.Deleted || info.NUID == "" || int(info.Size) > limit {
		return nil, fmt.Errorf("object %s/%s: deleted, or %d bytes where %d were announced", bucket, name, info.Size, limit)
	}
	chunks := "$O." + bucket + ".C." + info.NUID
	data := make([]byte, 0, info.Size)
	var seq uint64
	for n := uint32(0); n < info.Chunks; n++ {
		m, err := directGet(ctx, nc, stream, map[string]any{"seq": seq, "next_by_subj": chunks})
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, fmt.Errorf("object %s/%s: chunk %d of %d missing", bucket, name, n+1, info.Chunks)
		}
		if len(data)+len(m.Data) > int(info.Size) {
			return nil, fmt.Errorf("object %s/%s: more than its %d bytes", bucket, name, info.Size)
		}
		data = append(data, m.Data...)
		got, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("object %s/%s: chunk sequence: %w", bucket, name, err)
		}
		seq = got + 1
	}
	return data, nil
}
