package worker

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func clearTask(inputs, keys int, input string) []byte {
	t := map[string]any{"schema": TaskSchema, "task_id": "t1", "signer": SignerMsgClear}
	in := make([]string, inputs)
	for i := range in {
		in[i] = input
	}
	k := make([]string, keys)
	for i := range k {
		k[i] = fmt.Sprintf("%d", i)
	}
	t["inputs"], t["signing_keys"] = in, k
	data, _ := json.Marshal(t)
	return data
}

// The task that made a replica allocate 130 GB (90,000 inputs × 90,000
// keys, 900 KB) is refused at decode, naming the limit and the numbers.
func TestRequestExplosionIsRefusedNamingTheLimit(t *testing.T) {
	data := clearTask(90_000, 90_000, "")
	require.Less(t, len(data), 1<<20)
	_, err := DecodeTask(data, 1<<20)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "90000 inputs × 90000 signing keys make 8100000000 signing requests, over the worker.max_requests_per_task limit of 100000")
}

// A 10,000-reference release with ten keys is within the defaults.
func TestTenThousandReferencesPassTheDefaults(t *testing.T) {
	task := map[string]any{"schema": TaskSchema, "task_id": "rel", "signer": SignerMsgContainer}
	var refs, digests, keys []string
	for i := range 10_000 {
		refs = append(refs, fmt.Sprintf("r.io/n/a:%d", i))
		digests = append(digests, fmt.Sprintf("sha256:%064x", i))
	}
	for i := range 10 {
		keys = append(keys, fmt.Sprintf("K%d", i))
	}
	task["references"], task["digests"], task["signing_keys"] = refs, digests, keys
	data, _ := json.Marshal(task)
	_, err := DecodeTaskWithin(data, Limits{MaxTaskBytes: 4 << 20})
	require.NoError(t, err)
}

func TestInputBytesTimesKeysAreBounded(t *testing.T) {
	_, err := DecodeTaskWithin(clearTask(4, 2, strings.Repeat("x", 1000)), Limits{MaxInputBytes: 7999})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "4000 input bytes × 2 signing keys make 8000 bytes to sign, over the worker.max_input_bytes limit of 7999")
	_, err = DecodeTaskWithin(clearTask(4, 2, strings.Repeat("x", 1000)), Limits{MaxInputBytes: 8000})
	require.NoError(t, err)
}

// A 1 MB unknown field name is named in the refusal, not echoed whole.
func TestHugeUnknownFieldIsNotEchoed(t *testing.T) {
	name := strings.Repeat("f", 1_000_000)
	data := []byte(`{"schema": "pubtools-sign.task.v1", "task_id": "t1", "` + name + `": 1}`)
	_, err := DecodeTask(data, 1<<20)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "(1000000 bytes)")
	assert.Less(t, len(err.Error()), 1000)
	assert.Less(t, len(invalidResult(err).SignerResult.ErrorMessage), 1000)
}

func TestRequesterMustBeAPlainName(t *testing.T) {
	for _, ok := range []string{"", "jdoe", "svc-pub.prod", "jdoe@EXAMPLE.COM"} {
		assert.NoError(t, checkRequester(ok), ok)
	}
	for _, bad := range []string{"x/y", "../../amq/queue/victim", "r\u202eevil", "#", "a.*", "a..b", ".a", "a b", strings.Repeat("a", 201)} {
		err := checkRequester(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "requester: ")
	}
}
