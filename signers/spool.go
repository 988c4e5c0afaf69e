package signers

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
)

// Spool keeps encoded operation results in an unlinked temporary file, so
// an operation with 10,000 replies holds an offset per reply in memory,
// not its body. The file has no name once created: it goes away with the
// process even if Close is never called.
type Spool struct {
	mu    sync.Mutex
	f     *os.File
	w     *bufio.Writer
	size  int64
	dirty bool
}

// NewSpool creates a spool in dir (os.TempDir() when empty).
func NewSpool(dir string) (*Spool, error) {
	f, err := os.CreateTemp(dir, "pubtools-sign-results-*")
	if err != nil {
		return nil, fmt.Errorf("create result spool: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlink result spool: %w", err)
	}
	return &Spool{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// Put stores one encoded JSON value and returns its handle, which encodes
// back to exactly those bytes.
func (s *Spool) Put(encoded []byte) (Spooled, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(encoded); err != nil {
		return Spooled{}, fmt.Errorf("write result spool: %w", err)
	}
	at := s.size
	s.size += int64(len(encoded))
	s.dirty = true
	return Spooled{spool: s, offset: at, length: len(encoded)}, nil
}

// appendRead appends the length bytes stored at offset to out.
func (s *Spool) appendRead(out []byte, offset int64, length int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirty {
		if err := s.w.Flush(); err != nil {
			return nil, fmt.Errorf("flush result spool: %w", err)
		}
		s.dirty = false
	}
	out = slices.Grow(out, length)
	if _, err := s.f.ReadAt(out[len(out):len(out)+length], offset); err != nil {
		return nil, fmt.Errorf("read result spool: %w", err)
	}
	return out[:len(out)+length], nil
}

// Close releases the file; handles cannot be read afterwards.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// Spooled is one value kept in a Spool.
type Spooled struct {
	spool  *Spool
	offset int64
	length int
}

// MarshalJSON reads the value back, compact.
func (v Spooled) MarshalJSON() ([]byte, error) { return compactPy(v) }

// ReplyBody implements Reply: the body of the [body, properties] pair the
// value holds.
func (v Spooled) ReplyBody() (json.RawMessage, error) {
	stored, err := v.spool.appendRead(nil, v.offset, v.length)
	if err != nil {
		return nil, err
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(stored, &pair); err != nil || len(pair) == 0 {
		return nil, fmt.Errorf("spooled reply is not a [body, properties] pair: %v", err)
	}
	return pair[0], nil
}

// MarshalPyJSON reads the value back: it was stored in json.dumps layout.
func (v Spooled) MarshalPyJSON() ([]byte, error) { return v.AppendPyJSON(nil) }

// AppendPyJSON appends what MarshalPyJSON returns to out.
func (v Spooled) AppendPyJSON(out []byte) ([]byte, error) {
	return v.spool.appendRead(out, v.offset, v.length)
}
