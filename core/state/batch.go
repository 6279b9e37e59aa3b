package state

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Batch collects writes to one namespace and applies them atomically on
// Commit. Values are encrypted as they are added. A Batch is not safe for
// concurrent use; it may be reused after Commit by calling Reset, and must
// be closed when no longer needed.
type Batch struct {
	s    *Store
	b    *pebble.Batch
	size int
}

// NewBatch returns an empty batch.
func (s *Store) NewBatch() *Batch {
	return &Batch{s: s, b: s.db.pdb.NewBatch()}
}

// NewBatchWithSize returns an empty batch with room for about size bytes of
// keys and values.
func (s *Store) NewBatchWithSize(size int) *Batch {
	return &Batch{s: s, b: s.db.pdb.NewBatchWithSize(size)}
}

// Put queues setting key to value. The arguments may be reused once Put
// returns.
func (b *Batch) Put(key, value []byte) error {
	s := b.s
	// Encode straight into the batch's buffer: no intermediate copies.
	op := b.b.SetDeferred(len(s.prefix)+len(key), len(value)+overhead)
	copy(op.Key, s.prefix)
	copy(op.Key[len(s.prefix):], key)
	sealTo(s.aead, op.Value, op.Key, value)
	if err := op.Finish(); err != nil {
		return fmt.Errorf("state: batch put: %w", err)
	}
	b.size += len(key) + len(value)
	return nil
}

// Delete queues removing key.
func (b *Batch) Delete(key []byte) error {
	s := b.s
	op := b.b.DeleteDeferred(len(s.prefix) + len(key))
	copy(op.Key, s.prefix)
	copy(op.Key[len(s.prefix):], key)
	if err := op.Finish(); err != nil {
		return fmt.Errorf("state: batch delete: %w", err)
	}
	b.size += len(key)
	return nil
}

// DeleteRange queues removing every key in [start, end), with nil bounds as
// in Store.DeleteRange.
func (b *Batch) DeleteRange(start, end []byte) error {
	lo, hi, ok := b.s.rangeBounds(start, end)
	if !ok {
		return nil
	}
	if err := b.b.DeleteRange(lo, hi, nil); err != nil {
		return fmt.Errorf("state: batch delete range: %w", err)
	}
	b.size += len(start) + len(end)
	return nil
}

// ValueSize returns the plaintext bytes (keys and values) queued so far.
func (b *Batch) ValueSize() int { return b.size }

// Len returns the number of operations queued.
func (b *Batch) Len() int { return int(b.b.Count()) }

// Commit applies the batch atomically; with sync it also makes it (and every
// earlier write) durable before returning.
func (b *Batch) Commit(sync bool) error {
	if b.s.db.closed.Load() {
		return ErrClosed
	}
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	if err := b.b.Commit(opts); err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	return nil
}

// Reset empties the batch for reuse.
func (b *Batch) Reset() {
	b.b.Reset()
	b.size = 0
}

// Close releases the batch without committing what is left in it.
func (b *Batch) Close() {
	_ = b.b.Close()
}

// Writer receives a replayed batch. If it also has a method
// DeleteRange(start, end []byte) error, range deletions are replayed too;
// otherwise replaying a batch holding one fails.
type Writer interface {
	Put(key, value []byte) error
	Delete(key []byte) error
}

type rangeDeleter interface {
	DeleteRange(start, end []byte) error
}

// Replay feeds the queued operations, in order, to w: keys without the
// namespace prefix, values decrypted. The slices are only valid during the
// call that receives them.
func (b *Batch) Replay(w Writer) error {
	s := b.s
	var plain []byte
	r := b.b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil {
			return fmt.Errorf("state: replay: %w", err)
		}
		if !ok {
			return nil
		}
		switch kind {
		case pebble.InternalKeyKindSet:
			plain, err = open(s.aead, plain[:0], k, v)
			if err != nil {
				return fmt.Errorf("state: replay: %w", err)
			}
			if err := w.Put(s.userKey(k), plain); err != nil {
				return err
			}
		case pebble.InternalKeyKindDelete:
			if err := w.Delete(s.userKey(k)); err != nil {
				return err
			}
		case pebble.InternalKeyKindRangeDelete:
			rd, ok := w.(rangeDeleter)
			if !ok {
				return fmt.Errorf("state: replay: %T cannot delete ranges", w)
			}
			var end []byte // the namespace's upper bound stands for nil
			if !bytes.Equal(v, s.end) {
				end = s.userKey(v)
			}
			if err := rd.DeleteRange(s.userKey(k), end); err != nil {
				return err
			}
		case pebble.InternalKeyKindLogData:
		default:
			return fmt.Errorf("state: replay: unexpected operation %v", kind)
		}
	}
}

// userKey strips the namespace prefix from a key of this namespace, keeping
// a non-nil slice for the empty key.
func (s *Store) userKey(full []byte) []byte {
	return full[len(s.prefix):len(full):len(full)]
}
