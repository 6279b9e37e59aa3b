package state

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Store is one namespace's key space. Values are encrypted; keys are
// plaintext and passed without the namespace prefix. It is safe for
// concurrent use. Writes are not synced; see the package documentation.
type Store struct {
	db     *DB
	name   string
	prefix []byte // "n/<name>/"
	end    []byte // upper bound of the namespace
	aead   cipher.AEAD
}

// Name returns the namespace name.
func (s *Store) Name() string { return s.name }

// DB returns the database the store belongs to.
func (s *Store) DB() *DB { return s.db }

// keyPool holds scratch buffers for full keys of reads, which Pebble does
// not retain.
var keyPool = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

func (s *Store) scratchKey(key []byte) *[]byte {
	bp := keyPool.Get().(*[]byte)
	*bp = append(append((*bp)[:0], s.prefix...), key...)
	return bp
}

// fullKey returns a new slice holding prefix|key.
func (s *Store) fullKey(key []byte) []byte {
	k := make([]byte, len(s.prefix)+len(key))
	copy(k, s.prefix)
	copy(k[len(s.prefix):], key)
	return k
}

// Get returns a copy of the value of key, ErrNotFound if there is none, or
// ErrCorrupt if the stored value fails authentication.
func (s *Store) Get(key []byte) ([]byte, error) {
	if s.db.closed.Load() {
		return nil, ErrClosed
	}
	bp := s.scratchKey(key)
	defer keyPool.Put(bp)
	stored, closer, err := s.db.pdb.Get(*bp)
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("state: get: %w", err)
	}
	defer closer.Close()
	n := len(stored) - overhead
	if n < 0 {
		return nil, fmt.Errorf("state: get %q in %s: %w", key, s.name, ErrCorrupt)
	}
	v, err := open(s.aead, make([]byte, 0, n), *bp, stored)
	if err != nil {
		return nil, fmt.Errorf("state: get %q in %s: %w", key, s.name, err)
	}
	return v, nil
}

// Has reports whether key has a value. It does not decrypt the value.
func (s *Store) Has(key []byte) (bool, error) {
	if s.db.closed.Load() {
		return false, ErrClosed
	}
	bp := s.scratchKey(key)
	defer keyPool.Put(bp)
	_, closer, err := s.db.pdb.Get(*bp)
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("state: has: %w", err)
	}
	closer.Close()
	return true, nil
}

// Put sets the value of key.
func (s *Store) Put(key, value []byte) error {
	b := s.NewBatch()
	defer b.Close()
	if err := b.Put(key, value); err != nil {
		return err
	}
	return b.Commit(false)
}

// Delete removes key; deleting an absent key is not an error.
func (s *Store) Delete(key []byte) error {
	b := s.NewBatch()
	defer b.Close()
	if err := b.Delete(key); err != nil {
		return err
	}
	return b.Commit(false)
}

// DeleteRange removes every key in [start, end). A nil start is the
// namespace's first key and a nil end is past its last; an empty or inverted
// range is a no-op.
func (s *Store) DeleteRange(start, end []byte) error {
	b := s.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(start, end); err != nil {
		return err
	}
	return b.Commit(false)
}

// rangeBounds returns the Pebble keys of [start, end) in the namespace and
// whether the range is non-empty.
func (s *Store) rangeBounds(start, end []byte) ([]byte, []byte, bool) {
	lo := s.fullKey(start)
	hi := s.end
	if end != nil {
		hi = s.fullKey(end)
	}
	return lo, hi, bytes.Compare(lo, hi) < 0
}

// Compact asks Pebble to compact the namespace's keys in [start, limit)
// (nil bounds as in DeleteRange), discarding deleted and overwritten values.
func (s *Store) Compact(start, limit []byte) error {
	lo, hi, ok := s.rangeBounds(start, limit)
	if !ok {
		return nil
	}
	return s.db.compact(lo, hi)
}

// Sync makes every write so far durable (of every namespace: the log is
// shared).
func (s *Store) Sync() error { return s.db.Sync() }
