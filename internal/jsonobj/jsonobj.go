// Package jsonobj walks the top level of a JSON object key by key, in the
// order the keys are written: what encoding/json's maps and structs lose.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ErrStop, returned by a visit function, ends Walk early without error.
var ErrStop = errors.New("stop walking")

// Walk calls visit for each key of the top-level object in data; visit
// must consume the key's value from dec (Decode it, or Skip it).
func Walk(data []byte, visit func(key string, dec *json.Decoder) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if err := visit(key, dec); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Skip consumes the next value of dec.
func Skip(dec *json.Decoder) error {
	var skip json.RawMessage
	return dec.Decode(&skip)
}

// Keys returns the top-level keys of the object in data, in order, as far
// as data is a readable object.
func Keys(data []byte) []string {
	var keys []string
	_ = Walk(data, func(key string, dec *json.Decoder) error {
		keys = append(keys, key)
		return Skip(dec)
	})
	return keys
}
