package worker

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeTaskNamesTheField(t *testing.T) {
	const ok = `"schema": "pubtools-sign.task.v1", "signer": "msg-clear", "signing_keys": ["K"], "inputs": ["x"]`
	cases := []struct {
		name, json, field, id string
	}{
		{"valid", `{"task_id": "t-1", ` + ok + `}`, "", "t-1"},
		{"missing task id", `{` + ok + `}`, "task_id", ""},
		{"wildcard task id", `{"task_id": "a.>", ` + ok + `}`, "task_id", ""},
		{"case-folded key", `{"TASK_ID": "t-1", ` + ok + `}`, "TASK_ID", ""},
		{"duplicate key", `{"task_id": "t-1", "task_id": "t-2", ` + ok + `}`, "task_id", "t-1"},
		{"unknown schema", `{"task_id": "t-1", "schema": "v0", "signer": "msg-clear", "signing_keys": ["K"], "inputs": ["x"]}`, "schema", "t-1"},
		{"wrong type", `{"task_id": "t-1", "schema": "pubtools-sign.task.v1", "signer": "msg-clear", "signing_keys": "K", "inputs": ["x"]}`, "signing_keys", "t-1"},
		{"blob not base64", `{"task_id": "t-1", "schema": "pubtools-sign.task.v1", "signer": "msg-blob", "signing_keys": ["K"], "inputs": ["%%%"]}`, "inputs[0]", "t-1"},
		{"wildcard reply_to", `{"task_id": "t-1", "reply_to": "a.*", ` + ok + `}`, "reply_to", "t-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task, err := DecodeTask([]byte(tc.json), 1<<20)
			assert.Equal(t, tc.id, task.TaskID)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			var te *TaskError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tc.field, te.Field, te.Error())
		})
	}
}
