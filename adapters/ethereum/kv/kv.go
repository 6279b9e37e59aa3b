package kv

import (
	"fmt"
	"sync/atomic"

	"github.com/cocoledger/coco/core/state"
	"github.com/ethereum/go-ethereum/ethdb"
)

// store adapts a state.Store to ethdb.KeyValueStore.
//
// Errors are the state package's: a missing key is state.ErrNotFound (as
// go-ethereum's own backends, nothing in go-ethereum compares it by
// identity: rawdb treats any Get error as absence), and every operation
// after Close fails with state.ErrClosed.
type store struct {
	s      *state.Store
	closed atomic.Bool
}

// New returns an ethdb.KeyValueStore over s. Its Close does not close the
// database s belongs to.
func New(s *state.Store) ethdb.KeyValueStore {
	return &store{s: s}
}

func (d *store) Has(key []byte) (bool, error) {
	if d.closed.Load() {
		return false, state.ErrClosed
	}
	return d.s.Has(key)
}

func (d *store) Get(key []byte) ([]byte, error) {
	if d.closed.Load() {
		return nil, state.ErrClosed
	}
	return d.s.Get(key)
}

func (d *store) Put(key, value []byte) error {
	if d.closed.Load() {
		return state.ErrClosed
	}
	return d.s.Put(key, value)
}

func (d *store) Delete(key []byte) error {
	if d.closed.Load() {
		return state.ErrClosed
	}
	return d.s.Delete(key)
}

// DeleteRange deletes [start, end) with one range tombstone: it never
// returns ethdb.ErrTooManyKeys.
func (d *store) DeleteRange(start, end []byte) error {
	if d.closed.Load() {
		return state.ErrClosed
	}
	return d.s.DeleteRange(start, end)
}

func (d *store) NewBatch() ethdb.Batch {
	return &batch{d: d, b: d.s.NewBatch()}
}

func (d *store) NewBatchWithSize(size int) ethdb.Batch {
	return &batch{d: d, b: d.s.NewBatchWithSize(size)}
}

func (d *store) NewIterator(prefix, start []byte) ethdb.Iterator {
	if d.closed.Load() {
		return errIterator{state.ErrClosed}
	}
	return d.s.NewIterator(prefix, start)
}

// Stat reports the metrics of the whole shared Pebble database.
func (d *store) Stat() (string, error) {
	if d.closed.Load() {
		return "", state.ErrClosed
	}
	m, err := d.s.DB().Metrics()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("namespace %s\n%s", d.s.Name(), m.String()), nil
}

func (d *store) Compact(start, limit []byte) error {
	if d.closed.Load() {
		return state.ErrClosed
	}
	return d.s.Compact(start, limit)
}

// SyncKeyValue makes every write so far durable.
func (d *store) SyncKeyValue() error {
	if d.closed.Load() {
		return state.ErrClosed
	}
	return d.s.Sync()
}

// Close stops the adapter; the shared database stays open.
func (d *store) Close() error {
	d.closed.Store(true)
	return nil
}

// batch adapts state.Batch to ethdb.Batch. Write does not sync, as
// go-ethereum's Pebble backend: durability comes from SyncKeyValue.
type batch struct {
	d *store
	b *state.Batch
}

func (b *batch) Put(key, value []byte) error { return b.b.Put(key, value) }
func (b *batch) Delete(key []byte) error     { return b.b.Delete(key) }
func (b *batch) DeleteRange(start, end []byte) error {
	return b.b.DeleteRange(start, end)
}
func (b *batch) ValueSize() int { return b.b.ValueSize() }
func (b *batch) Reset()         { b.b.Reset() }
func (b *batch) Close()         { b.b.Close() }

func (b *batch) Write() error {
	if b.d.closed.Load() {
		return state.ErrClosed
	}
	return b.b.Commit(false)
}

// Replay feeds the batch to w; range deletions need w to implement
// ethdb.KeyValueRangeDeleter.
func (b *batch) Replay(w ethdb.KeyValueWriter) error { return b.b.Replay(w) }

// errIterator is an exhausted iterator carrying an error.
type errIterator struct{ err error }

func (it errIterator) Next() bool    { return false }
func (it errIterator) Error() error  { return it.err }
func (it errIterator) Key() []byte   { return nil }
func (it errIterator) Value() []byte { return nil }
func (it errIterator) Release()      {}
