package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func openTest(t testing.TB, dir string, key []byte) *DB {
	t.Helper()
	db, err := Open(dir, Options{Key: key, CacheSize: 8 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func newTestDB(t testing.TB) *DB {
	t.Helper()
	db := openTest(t, t.TempDir(), testKey(7))
	t.Cleanup(func() { db.Close() })
	return db
}

func mustGet(t *testing.T, s *Store, key string) string {
	t.Helper()
	v, err := s.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v)
}

func mustPut(t *testing.T, s *Store, key, value string) {
	t.Helper()
	if err := s.Put([]byte(key), []byte(value)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func keys(t *testing.T, it *Iterator) []string {
	t.Helper()
	defer it.Release()
	var out []string
	for it.Next() {
		out = append(out, string(it.Key()))
	}
	if err := it.Error(); err != nil {
		t.Fatalf("iterator: %v", err)
	}
	return out
}

func TestOpenRejectsBadKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := Open(t.TempDir(), Options{Key: make([]byte, n)}); err == nil {
			t.Errorf("Open with %d-byte key succeeded", n)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	s := newTestDB(t).Namespace("eth")

	if _, err := s.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of absent key: err = %v, want ErrNotFound", err)
	}
	if has, err := s.Has([]byte("k")); err != nil || has {
		t.Fatalf("Has of absent key = %v, %v", has, err)
	}
	mustPut(t, s, "k", "v1")
	if got := mustGet(t, s, "k"); got != "v1" {
		t.Fatalf("Get = %q, want v1", got)
	}
	mustPut(t, s, "k", "v2")
	if got := mustGet(t, s, "k"); got != "v2" {
		t.Fatalf("Get after overwrite = %q, want v2", got)
	}
	if has, err := s.Has([]byte("k")); err != nil || !has {
		t.Fatalf("Has = %v, %v", has, err)
	}

	// The returned value is the caller's to keep and modify.
	v, _ := s.Get([]byte("k"))
	v[0] = 'X'
	if got := mustGet(t, s, "k"); got != "v2" {
		t.Fatalf("modifying a returned value changed the store: %q", got)
	}

	// Empty values and the empty key are ordinary.
	mustPut(t, s, "empty", "")
	if v, err := s.Get([]byte("empty")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("Get of empty value = %q (nil=%v), %v", v, v == nil, err)
	}
	mustPut(t, s, "", "root")
	if got := mustGet(t, s, ""); got != "root" {
		t.Fatalf("Get of empty key = %q", got)
	}

	if err := s.Delete([]byte("k")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v", err)
	}
	if err := s.Delete([]byte("never-there")); err != nil {
		t.Fatalf("Delete of absent key: %v", err)
	}
}

func TestNamespacesAreIsolated(t *testing.T) {
	db := newTestDB(t)
	a, ab := db.Namespace("a"), db.Namespace("ab")
	if db.Namespace("a") != a {
		t.Fatal("Namespace returned a different store for the same name")
	}
	mustPut(t, a, "k", "in a")
	mustPut(t, ab, "k", "in ab")
	mustPut(t, ab, "k2", "in ab")
	if got := mustGet(t, a, "k"); got != "in a" {
		t.Fatalf("a/k = %q", got)
	}
	if got := keys(t, a.NewIterator(nil, nil)); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("iterating a = %q, want [k]", got)
	}
	if err := a.DeleteRange(nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a/k after DeleteRange: %v", err)
	}
	if got := keys(t, ab.NewIterator(nil, nil)); !slices.Equal(got, []string{"k", "k2"}) {
		t.Fatalf("ab after deleting all of a = %q", got)
	}

	for _, bad := range []string{"", "a/b", string(make([]byte, 256))} {
		if CheckNamespace(bad) == nil {
			t.Errorf("CheckNamespace(%q) accepted", bad)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Namespace(%q) did not panic", bad)
				}
			}()
			db.Namespace(bad)
		}()
	}
}

func TestIterator(t *testing.T) {
	db := newTestDB(t)
	s := db.Namespace("it")
	db.Namespace("other").Put([]byte("ka1"), []byte("x"))
	content := map[string]string{
		"ka1": "va1", "ka5": "va5", "ka2": "va2", "ka4": "va4", "ka3": "va3",
		"kb1": "vb1", "kb2": "vb2", "k": "v", "\xff\xff": "ff", "\xff\xff\x01": "ff1",
	}
	for k, v := range content {
		mustPut(t, s, k, v)
	}
	tests := []struct {
		prefix, start string
		want          []string
	}{
		{"", "", []string{"k", "ka1", "ka2", "ka3", "ka4", "ka5", "kb1", "kb2", "\xff\xff", "\xff\xff\x01"}},
		{"ka", "", []string{"ka1", "ka2", "ka3", "ka4", "ka5"}},
		{"ka", "3", []string{"ka3", "ka4", "ka5"}},
		{"ka", "25", []string{"ka3", "ka4", "ka5"}},
		{"ka", "8", nil},
		{"kc", "", nil},
		{"", "kb", []string{"kb1", "kb2", "\xff\xff", "\xff\xff\x01"}},
		{"\xff", "", []string{"\xff\xff", "\xff\xff\x01"}},
		{"\xff\xff", "", []string{"\xff\xff", "\xff\xff\x01"}},
	}
	for _, tt := range tests {
		it := s.NewIterator([]byte(tt.prefix), []byte(tt.start))
		var got []string
		for it.Next() {
			k := string(it.Key())
			if v := string(it.Value()); v != content[k] {
				t.Errorf("prefix %q start %q: value of %q = %q, want %q", tt.prefix, tt.start, k, v, content[k])
			}
			got = append(got, k)
		}
		if err := it.Error(); err != nil {
			t.Fatal(err)
		}
		if it.Next() || it.Key() != nil || it.Value() != nil {
			t.Errorf("exhausted iterator still yields")
		}
		it.Release()
		it.Release()
		if !slices.Equal(got, tt.want) {
			t.Errorf("prefix %q start %q: got %q, want %q", tt.prefix, tt.start, got, tt.want)
		}
	}

	// An iterator sees the store as of its creation.
	it := s.NewIterator([]byte("kb"), nil)
	mustPut(t, s, "kb0", "late")
	if got := keys(t, it); !slices.Equal(got, []string{"kb1", "kb2"}) {
		t.Errorf("iterator saw a later write: %q", got)
	}
}

func TestBatch(t *testing.T) {
	db := newTestDB(t)
	s := db.Namespace("batch")
	mustPut(t, s, "old1", "o")
	mustPut(t, s, "old2", "o")
	mustPut(t, s, "z", "o")

	b := s.NewBatch()
	defer b.Close()
	b.Put([]byte("a"), []byte("1"))
	b.Put([]byte("b"), []byte("22"))
	b.Delete([]byte("old1"))
	b.DeleteRange([]byte("old2"), []byte("old3"))
	b.Put([]byte("tmp"), []byte("x"))
	b.Delete([]byte("tmp"))
	if got, want := b.ValueSize(), 1+1+1+2+4+4+4+3+1+3; got != want {
		t.Errorf("ValueSize = %d, want %d", got, want)
	}
	if b.Len() != 6 {
		t.Errorf("Len = %d, want 6", b.Len())
	}

	// Nothing is visible before Commit.
	if got := keys(t, s.NewIterator(nil, nil)); !slices.Equal(got, []string{"old1", "old2", "z"}) {
		t.Fatalf("before commit: %q", got)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, s.NewIterator(nil, nil)); !slices.Equal(got, []string{"a", "b", "z"}) {
		t.Fatalf("after commit: %q", got)
	}
	if got := mustGet(t, s, "b"); got != "22" {
		t.Fatalf("b = %q", got)
	}

	// Reset empties the batch for reuse.
	b.Reset()
	if b.ValueSize() != 0 || b.Len() != 0 {
		t.Fatalf("after Reset: ValueSize %d Len %d", b.ValueSize(), b.Len())
	}
	b.Put([]byte("c"), []byte("3"))
	if err := b.Commit(false); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "c"); got != "3" {
		t.Fatalf("c = %q", got)
	}

	// A closed, uncommitted batch leaves nothing behind.
	b2 := s.NewBatch()
	b2.Put([]byte("never"), []byte("x"))
	b2.Close()
	if has, _ := s.Has([]byte("never")); has {
		t.Fatal("uncommitted batch was applied")
	}
}

func TestBatchReplay(t *testing.T) {
	db := newTestDB(t)
	src, dst := db.Namespace("src"), db.Namespace("dst")
	mustPut(t, dst, "d1", "x")
	mustPut(t, dst, "d2", "x")
	mustPut(t, dst, "zz", "x")
	mustPut(t, dst, "gone", "x")

	b := src.NewBatch()
	defer b.Close()
	b.Put([]byte("k1"), []byte("v1"))
	b.Put([]byte(""), []byte("empty key"))
	b.DeleteRange([]byte("d"), []byte("e"))
	b.Delete([]byte("gone"))
	b.DeleteRange([]byte("z"), nil)

	// Replayed into another store's batch: plaintext keys and values.
	into := dst.NewBatch()
	defer into.Close()
	if err := b.Replay(into); err != nil {
		t.Fatal(err)
	}
	if err := into.Commit(false); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, dst.NewIterator(nil, nil)); !slices.Equal(got, []string{"", "k1"}) {
		t.Fatalf("after replay: %q", got)
	}
	if got := mustGet(t, dst, "k1"); got != "v1" {
		t.Fatalf("k1 = %q", got)
	}
	if has, _ := src.Has([]byte("k1")); has {
		t.Fatal("replay committed the source batch")
	}

	// A writer without DeleteRange cannot take a batch holding one.
	if err := b.Replay(putDeleter{}); err == nil {
		t.Fatal("Replay into a writer without DeleteRange succeeded")
	}
}

type putDeleter struct{}

func (putDeleter) Put(key, value []byte) error { return nil }
func (putDeleter) Delete(key []byte) error     { return nil }

func TestDeleteRange(t *testing.T) {
	s := newTestDB(t).Namespace("dr")
	for _, k := range []string{"1", "2", "3", "4", "5"} {
		mustPut(t, s, k, k)
	}
	for _, r := range [][2]string{{"4", "2"}, {"3", "3"}} { // inverted, empty
		if err := s.DeleteRange([]byte(r[0]), []byte(r[1])); err != nil {
			t.Fatalf("DeleteRange(%q, %q): %v", r[0], r[1], err)
		}
	}
	if err := s.DeleteRange([]byte("2"), []byte("4")); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, s.NewIterator(nil, nil)); !slices.Equal(got, []string{"1", "4", "5"}) {
		t.Fatalf("after DeleteRange(2,4): %q", got)
	}
	if err := s.DeleteRange(nil, []byte("5")); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, s.NewIterator(nil, nil)); !slices.Equal(got, []string{"5"}) {
		t.Fatalf("after DeleteRange(nil,5): %q", got)
	}
}

// rawKey is the Pebble key of key in namespace ns.
func rawKey(ns, key string) []byte { return []byte("n/" + ns + "/" + key) }

func rawGet(t *testing.T, db *DB, k []byte) []byte {
	t.Helper()
	v, closer, err := db.Pebble().Get(k)
	if err != nil {
		t.Fatalf("raw get %q: %v", k, err)
	}
	defer closer.Close()
	return bytes.Clone(v)
}

func rawSet(t *testing.T, db *DB, k, v []byte) {
	t.Helper()
	if err := db.Pebble().Set(k, v, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTamperDetected(t *testing.T) {
	db := newTestDB(t)
	s, other := db.Namespace("t"), db.Namespace("u")
	mustPut(t, s, "k1", "value one")
	mustPut(t, s, "k2", "value two")
	mustPut(t, other, "k1", "value one")
	v1, v2 := rawGet(t, db, rawKey("t", "k1")), rawGet(t, db, rawKey("t", "k2"))

	expectCorrupt := func(what, key string) {
		t.Helper()
		if _, err := s.Get([]byte(key)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Get err = %v, want ErrCorrupt", what, err)
		}
		it := s.NewIterator([]byte(key), nil)
		defer it.Release()
		if it.Next() || !errors.Is(it.Error(), ErrCorrupt) {
			t.Errorf("%s: iterator err = %v, want ErrCorrupt", what, it.Error())
		}
	}

	for i := range v1 {
		flipped := bytes.Clone(v1)
		flipped[i] ^= 0x40
		rawSet(t, db, rawKey("t", "k1"), flipped)
		if _, err := s.Get([]byte("k1")); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: err = %v, want ErrCorrupt", i, err)
		}
	}
	expectCorrupt("flipped byte", "k1")

	rawSet(t, db, rawKey("t", "k1"), v1[:len(v1)-1])
	expectCorrupt("truncated", "k1")
	rawSet(t, db, rawKey("t", "k1"), v1[:10])
	expectCorrupt("shorter than overhead", "k1")

	// Swapped between keys of the namespace.
	rawSet(t, db, rawKey("t", "k1"), v2)
	rawSet(t, db, rawKey("t", "k2"), v1)
	expectCorrupt("swapped", "k1")
	expectCorrupt("swapped", "k2")

	// Moved to the same key of another namespace.
	rawSet(t, db, rawKey("u", "k1"), v1)
	if _, err := other.Get([]byte("k1")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("moved across namespaces: err = %v, want ErrCorrupt", err)
	}

	// Restored, it reads again.
	rawSet(t, db, rawKey("t", "k1"), v1)
	if got := mustGet(t, s, "k1"); got != "value one" {
		t.Fatalf("restored value = %q", got)
	}
}

func TestNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, testKey(1))
	secret := []byte("SECRET-MARKER-7f3a9c")
	control := []byte("CONTROL-MARKER-41b2d8")
	s := db.Namespace("private")
	b := s.NewBatch()
	for i := range 2000 {
		v := fmt.Appendf(nil, "%s %d %s", secret, i, bytes.Repeat([]byte{'p'}, i%64))
		if err := b.Put(fmt.Appendf(nil, "key-%05d", i), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()
	// The control marker goes to raw Pebble in plaintext, proving the scan
	// below would see a marker that was stored unencrypted.
	rawSet(t, db, []byte("l/control"), control)
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	scan := func(stage string) {
		t.Helper()
		var foundControl bool
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(data, secret) {
				t.Errorf("%s: plaintext marker found in %s", stage, filepath.Base(path))
			}
			foundControl = foundControl || bytes.Contains(data, control)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !foundControl {
			t.Fatalf("%s: control marker not found: the scan proves nothing", stage)
		}
	}
	scan("in the write-ahead log")

	// Flushed to sstables as well.
	if err := db.Pebble().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	scan("after flush and close")

	// And it all reads back.
	db = openTest(t, dir, testKey(1))
	defer db.Close()
	if v := mustGet(t, db.Namespace("private"), "key-00007"); !bytes.HasPrefix([]byte(v), secret) {
		t.Fatalf("read back %q", v)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, testKey(3))
	s := db.Namespace("p")
	mustPut(t, s, "kept", "across restarts")
	mustPut(t, s, "deleted", "x")
	if err := s.Delete([]byte("deleted")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := Open(dir, Options{Key: testKey(4), Logger: slog.New(slog.DiscardHandler)}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with another key: err = %v, want ErrWrongKey", err)
	}

	db = openTest(t, dir, testKey(3))
	defer db.Close()
	s = db.Namespace("p")
	if got := mustGet(t, s, "kept"); got != "across restarts" {
		t.Fatalf("kept = %q", got)
	}
	if _, err := s.Get([]byte("deleted")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key after reopen: %v", err)
	}
}

func TestClosed(t *testing.T) {
	db := openTest(t, t.TempDir(), testKey(5))
	s := db.Namespace("c")
	b := s.NewBatch()
	defer b.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Get([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get: %v", err)
	}
	if _, err := s.Has([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Errorf("Has: %v", err)
	}
	if err := s.Put([]byte("k"), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Put: %v", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync: %v", err)
	}
	b.Put([]byte("k"), []byte("v"))
	if err := b.Commit(false); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit: %v", err)
	}
	it := s.NewIterator(nil, nil)
	if it.Next() || !errors.Is(it.Error(), ErrClosed) {
		t.Errorf("iterator: %v", it.Error())
	}
	it.Release()
}

func benchValue() []byte { return bytes.Repeat([]byte{0xab}, 100) }

// BenchmarkPut writes 32-byte keys with 100-byte values, one write each.
func BenchmarkPut(b *testing.B) {
	s := newTestDB(b).Namespace("bench")
	v := benchValue()
	key := make([]byte, 32)
	b.ReportAllocs()
	b.SetBytes(int64(len(key) + len(v)))
	for i := 0; b.Loop(); i++ {
		key[0], key[1], key[2], key[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		if err := s.Put(key, v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatchPut writes the same records in batches of 1000.
func BenchmarkBatchPut(b *testing.B) {
	s := newTestDB(b).Namespace("bench")
	v := benchValue()
	key := make([]byte, 32)
	batch := s.NewBatch()
	defer batch.Close()
	b.ReportAllocs()
	b.SetBytes(int64(len(key) + len(v)))
	for i := 0; b.Loop(); i++ {
		key[0], key[1], key[2], key[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		if err := batch.Put(key, v); err != nil {
			b.Fatal(err)
		}
		if batch.Len() == 1000 {
			if err := batch.Commit(false); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
}

// BenchmarkGet reads random keys among 100k, from memtables and sstables.
func BenchmarkGet(b *testing.B) {
	db := newTestDB(b)
	s := db.Namespace("bench")
	v := benchValue()
	const n = 100_000
	batch := s.NewBatch()
	key := make([]byte, 32)
	for i := range n {
		key[0], key[1], key[2], key[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		batch.Put(key, v)
	}
	if err := batch.Commit(false); err != nil {
		b.Fatal(err)
	}
	batch.Close()
	if err := db.Pebble().Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := (i * 7919) % n
		key[0], key[1], key[2], key[3] = byte(j>>24), byte(j>>16), byte(j>>8), byte(j)
		if _, err := s.Get(key); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	db := newTestDB(t)
	const workers, perWorker = 4, 300
	done := make(chan error, workers)
	for w := range workers {
		go func() {
			s := db.Namespace(fmt.Sprintf("w%d", w%2)) // two workers share each namespace
			b := s.NewBatch()
			defer b.Close()
			for i := range perWorker {
				k := fmt.Appendf(nil, "%d-%04d", w, i)
				if err := s.Put(k, k); err != nil {
					done <- err
					return
				}
				if v, err := s.Get(k); err != nil || !bytes.Equal(v, k) {
					done <- fmt.Errorf("Get(%s) = %q, %v", k, v, err)
					return
				}
				b.Put(append(k, 'b'), k)
			}
			done <- b.Commit(false)
		}()
	}
	for range workers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for ns := range 2 {
		if got := len(keys(t, db.Namespace(fmt.Sprintf("w%d", ns)).NewIterator(nil, nil))); got != 2*2*perWorker {
			t.Errorf("namespace w%d holds %d keys, want %d", ns, got, 2*2*perWorker)
		}
	}
}
