package state

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Iterator walks a namespace's keys in ascending byte order. It sees the
// database as of its creation. It is not safe for concurrent use and must be
// released. Its method set matches go-ethereum's ethdb.Iterator.
type Iterator struct {
	s     *Store
	it    *pebble.Iterator
	fresh bool // positioned on the first key, not yet returned by Next
	key   []byte
	val   []byte
	buf   []byte
	err   error
}

// NewIterator returns an iterator over the keys that start with prefix and
// are at or after prefix|start (start does not repeat the prefix).
func (s *Store) NewIterator(prefix, start []byte) *Iterator {
	// A non-nil buffer keeps empty values distinguishable from "no value".
	it := &Iterator{s: s, buf: make([]byte, 0, 64)}
	if s.db.closed.Load() {
		it.err = ErrClosed
		return it
	}
	full := s.fullKey(prefix)
	lower := append(full[:len(full):len(full)], start...)
	pit, err := s.db.pdb.NewIter(&pebble.IterOptions{
		LowerBound: lower,
		UpperBound: upperBound(full),
	})
	if err != nil {
		it.err = fmt.Errorf("state: iterator: %w", err)
		return it
	}
	it.it = pit
	it.fresh = pit.First()
	return it
}

// Next moves to the next key and reports whether there is one. It returns
// false at the end and after any error (see Error), such as a value that
// fails authentication.
func (it *Iterator) Next() bool {
	it.key, it.val = nil, nil
	if it.err != nil || it.it == nil {
		return false
	}
	var ok bool
	if it.fresh {
		ok, it.fresh = true, false
	} else {
		ok = it.it.Next()
	}
	if !ok {
		if err := it.it.Error(); err != nil {
			it.err = fmt.Errorf("state: iterator: %w", err)
		}
		return false
	}
	k := it.it.Key()
	stored, err := it.it.ValueAndErr()
	if err != nil {
		it.err = fmt.Errorf("state: iterator: %w", err)
		return false
	}
	// Decrypt here, not lazily in Value, so that a tampered value stops the
	// walk with an error instead of surfacing as a nil value.
	it.buf, err = open(it.s.aead, it.buf[:0], k, stored)
	if err != nil {
		it.err = fmt.Errorf("state: iterator at %q in %s: %w", it.s.userKey(k), it.s.name, err)
		return false
	}
	it.key, it.val = it.s.userKey(k), it.buf
	return true
}

// Key returns the current key without the namespace prefix, or nil. It is
// valid until the next call to Next.
func (it *Iterator) Key() []byte { return it.key }

// Value returns the current decrypted value, or nil. It is valid until the
// next call to Next.
func (it *Iterator) Value() []byte { return it.val }

// Error returns the error that stopped the iteration, if any.
func (it *Iterator) Error() error { return it.err }

// Release frees the iterator; it may be called more than once.
func (it *Iterator) Release() {
	it.key, it.val = nil, nil
	if it.it != nil {
		_ = it.it.Close()
		it.it = nil
	}
}
