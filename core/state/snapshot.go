package state

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Snapshot is a consistent read-only view of every namespace at the moment
// it was taken; later writes do not show. It reads plaintext (values are
// decrypted), for state transfer to a peer that holds the same secrets and
// encrypts with its own key. It pins old data in Pebble until closed, so
// close it soon.
type Snapshot struct {
	db   *DB
	snap *pebble.Snapshot
}

// NewSnapshot takes a snapshot of the database.
func (db *DB) NewSnapshot() (*Snapshot, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return &Snapshot{db: db, snap: db.pdb.NewSnapshot()}, nil
}

// Close releases the snapshot; it may be called more than once.
func (s *Snapshot) Close() error {
	if s.snap == nil {
		return nil
	}
	err := s.snap.Close()
	s.snap = nil
	if err != nil {
		return fmt.Errorf("state: close snapshot: %w", err)
	}
	return nil
}

// Namespaces lists the namespaces that hold at least one key in the
// snapshot, in byte order.
func (s *Snapshot) Namespaces() ([]string, error) {
	if s.snap == nil || s.db.closed.Load() {
		return nil, ErrClosed
	}
	return namespaces(s.snap)
}

// Namespaces lists the namespaces that hold at least one key, in byte
// order.
func (db *DB) Namespaces() ([]string, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return namespaces(db.pdb)
}

// namespaces skips from one namespace to the next: one seek per namespace,
// however many keys each holds.
func namespaces(r pebble.Reader) ([]string, error) {
	prefix := []byte(namespacePrefix)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return nil, fmt.Errorf("state: namespaces: %w", err)
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok; {
		rest := it.Key()[len(prefix):]
		i := bytes.IndexByte(rest, '/')
		if i <= 0 {
			return nil, fmt.Errorf("state: key %q outside any namespace: %w", it.Key(), ErrCorrupt)
		}
		name := string(rest[:i])
		out = append(out, name)
		ok = it.SeekGE(upperBound([]byte(namespacePrefix + name + "/")))
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("state: namespaces: %w", err)
	}
	return out, nil
}

// Read calls fn with the keys (without the namespace prefix) and decrypted
// values of namespace ns in the snapshot, in byte order from start on
// (inclusive; nil is the first key), until fn returns false or the keys
// end. The slices are valid only during the call. A value that fails
// authentication stops the read with ErrCorrupt.
func (s *Snapshot) Read(ns string, start []byte, fn func(key, value []byte) bool) error {
	if s.snap == nil || s.db.closed.Load() {
		return ErrClosed
	}
	if err := CheckNamespace(ns); err != nil {
		return err
	}
	st := s.db.Namespace(ns)
	it, err := s.snap.NewIter(&pebble.IterOptions{LowerBound: st.fullKey(start), UpperBound: st.end})
	if err != nil {
		return fmt.Errorf("state: snapshot read: %w", err)
	}
	defer it.Close()
	var plain []byte
	for ok := it.First(); ok; ok = it.Next() {
		stored, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("state: snapshot read: %w", err)
		}
		plain, err = open(st.aead, plain[:0], it.Key(), stored)
		if err != nil {
			return fmt.Errorf("state: snapshot read %q in %s: %w", st.userKey(it.Key()), ns, err)
		}
		if !fn(st.userKey(it.Key()), plain) {
			return nil
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("state: snapshot read: %w", err)
	}
	return nil
}
