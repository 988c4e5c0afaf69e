package config

import (
	"errors"
	"math"
	"strings"

	"go.yaml.in/yaml/v3"
)

// problems collects what validation finds, so that the one reported is
// chosen by where it is in the file, not by which check (or which turn of
// a map iteration) ran first.
type problems []error

func (p *problems) add(err error) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		*p = append(*p, joined.Unwrap()...)
		return
	}
	*p = append(*p, err)
}

func (p problems) err() error { return errors.Join(p...) }

// keyPositions numbers every dotted key of data (sequence items as
// key[i]) in file order.
func keyPositions(data []byte) map[string]int {
	pos := map[string]int{}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return pos
	}
	walkKeys(&root, func(key string, k, v *yaml.Node) {
		if k == nil { // a sequence item: where it starts
			k = v
		}
		pos[key] = k.Line<<16 | k.Column
	})
	return pos
}

// firstInFile picks, of the problems err joins, the one whose key comes
// first in the file; keys the file does not set (defaults, environment)
// come after, in the order they were checked.
func firstInFile(err error, pos map[string]int) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var best error
	bestAt := math.MaxInt
	for _, e := range joined.Unwrap() {
		at := math.MaxInt - 1
		var cfgErr *Error
		if errors.As(e, &cfgErr) {
			at = positionOf(cfgErr.Key, pos)
		}
		if best == nil || at < bestAt {
			best, bestAt = e, at
		}
	}
	return best
}

// positionOf finds key, or else the nearest enclosing key the file sets
// (msg_signer.messaging_brokers[2] of a list the file gives inline).
func positionOf(key string, pos map[string]int) int {
	for key != "" {
		if at, ok := pos[key]; ok {
			return at
		}
		cut := strings.LastIndexAny(key, ".[")
		if cut < 0 {
			break
		}
		key = key[:cut]
	}
	return math.MaxInt - 1
}
