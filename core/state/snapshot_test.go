package state

import (
	"errors"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// A snapshot reads every namespace's plaintext as it was when taken, and a
// second database with another at-rest key stores it under its own key.
func TestSnapshotReadsStateAsTaken(t *testing.T) {
	db := newTestDB(t)
	eth, gov := db.Namespace("eth"), db.Namespace("gov")
	for _, k := range []string{"a", "b", "c", "d"} {
		mustPut(t, eth, k, "eth-"+k)
	}
	mustPut(t, gov, "x", "gov-x")
	// A namespace whose name extends another's is its own namespace.
	mustPut(t, db.Namespace("eth2"), "z", "eth2-z")

	snap, err := db.NewSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	mustPut(t, eth, "a", "changed")
	mustPut(t, eth, "e", "later")
	if err := gov.Delete([]byte("x")); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db.Namespace("new"), "k", "v")

	names, err := snap.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"eth", "eth2", "gov"}; !slices.Equal(names, want) {
		t.Fatalf("snapshot namespaces %v, want %v", names, want)
	}
	live, err := db.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"eth", "eth2", "new"}; !slices.Equal(live, want) {
		t.Fatalf("live namespaces %v, want %v", live, want)
	}

	read := func(ns string, start []byte, limit int) map[string]string {
		t.Helper()
		out := map[string]string{}
		err := snap.Read(ns, start, func(k, v []byte) bool {
			out[string(k)] = string(v)
			return len(out) < limit
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := read("eth", nil, 100)
	want := map[string]string{"a": "eth-a", "b": "eth-b", "c": "eth-c", "d": "eth-d"}
	if len(all) != len(want) {
		t.Fatalf("snapshot of eth: %v, want %v", all, want)
	}
	for k, v := range want {
		if all[k] != v {
			t.Fatalf("snapshot of eth: %v, want %v", all, want)
		}
	}
	if got := read("eth", []byte("b"), 2); len(got) != 2 || got["b"] != "eth-b" || got["c"] != "eth-c" {
		t.Fatalf("read from b, two keys: %v", got)
	}
	if got := read("gov", nil, 100); got["x"] != "gov-x" {
		t.Fatalf("deleted after the snapshot, gov/x reads %v", got)
	}

	// Import into a database with another key, through its stores.
	other := openTest(t, t.TempDir(), testKey(9))
	defer other.Close()
	for _, ns := range names {
		b := other.Namespace(ns).NewBatch()
		err := snap.Read(ns, nil, func(k, v []byte) bool { return b.Put(k, v) == nil })
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(true); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	if got := mustGet(t, other.Namespace("eth"), "a"); got != "eth-a" {
		t.Fatalf("imported eth/a = %q", got)
	}
	if got := mustGet(t, other.Namespace("eth2"), "z"); got != "eth2-z" {
		t.Fatalf("imported eth2/z = %q", got)
	}
}

func TestSnapshotDetectsTamperedValue(t *testing.T) {
	db := newTestDB(t)
	s := db.Namespace("eth")
	mustPut(t, s, "a", "value")
	if err := db.Pebble().Set([]byte("n/eth/a"), []byte("garbage that is long enough to pass the size check"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	snap, err := db.NewSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Read("eth", nil, func(k, v []byte) bool { return true }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a tampered value: %v, want ErrCorrupt", err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if err := snap.Read("eth", nil, func(k, v []byte) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v, want ErrClosed", err)
	}
}
