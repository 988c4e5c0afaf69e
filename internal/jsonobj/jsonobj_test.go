package jsonobj_test

import (
	"encoding/json"
	"fmt"

	"github.com/release-engineering/pubtools-sign-go/internal/jsonobj"
)

func ExampleKeys() {
	fmt.Println(jsonobj.Keys([]byte(`{"b": 1, "a": {"z": 2}, "c": [3]}`)))
	// Output: [b a c]
}

func ExampleWalk() {
	var id string
	_ = jsonobj.Walk([]byte(`{"schema": "x", "task_id": "t-1", "more": true}`), func(key string, dec *json.Decoder) error {
		if key == "task_id" {
			_ = dec.Decode(&id)
			return jsonobj.ErrStop
		}
		return jsonobj.Skip(dec)
	})
	fmt.Println(id)
	// Output: t-1
}
