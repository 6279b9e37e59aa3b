package chain

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/triedb"
	"github.com/ethereum/go-ethereum/triedb/hashdb"
)

// trieNodes lists the hashes of the nodes stored by hash in the trie under
// root, root first.
func trieNodes(t *testing.T, db ethdb.Database, id *trie.ID) []common.Hash {
	t.Helper()
	tdb := triedb.NewDatabase(db, &triedb.Config{HashDB: &hashdb.Config{}})
	defer tdb.Close()
	tr, err := trie.New(id, tdb)
	if err != nil {
		t.Fatal(err)
	}
	it, err := tr.NodeIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []common.Hash
	for it.Next(true) {
		if h := it.Hash(); h != (common.Hash{}) {
			out = append(out, h)
		}
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Flush writes the head state kept in memory, VerifyState accepts it, and
// any altered, swapped or missing trie node or contract code is refused.
func TestVerifyStateDetectsTampering(t *testing.T) {
	db := rawdb.NewMemoryDatabase()
	c, err := New(db, flushConfig(1000), nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := &sim{t: t, c: c}
	for n, b := range workload(s, 12)[1:] {
		if _, err := c.Execute(b); err != nil {
			t.Fatalf("block %d: %v", n+1, err)
		}
	}
	if got := flushedHeight(t, db); got != 0 {
		t.Fatalf("flushed at %d before Flush, want 0 (genesis)", got)
	}
	root := c.CurrentHeader().Root
	if _, err := VerifyState(db, root); err == nil {
		t.Fatal("the head state is only in memory, yet VerifyState accepts the database")
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := flushedHeight(t, db); got != 12 {
		t.Fatalf("flushed at %d after Flush, want 12", got)
	}
	stats, err := VerifyState(db, root)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Accounts < 5 || stats.Codes < 1 || stats.Slots < 1 || stats.StorageTries < 1 || stats.Nodes < stats.StorageTries+2 {
		t.Fatalf("checked too little: %+v", stats)
	}
	if err := c.VerifyState(); err != nil {
		t.Fatal(err)
	}

	accountNodes := trieNodes(t, db, trie.StateTrieID(root))
	if len(accountNodes) < 2 {
		t.Fatalf("account trie has %d hashed nodes; the test needs an inner one", len(accountNodes))
	}
	st, err := c.StateAt(c.Height())
	if err != nil {
		t.Fatal(err)
	}
	contract := crypto.CreateAddress(addr(key(4)), 0)
	storageRoot := st.GetStorageRoot(contract)
	codeHash := st.GetCodeHash(contract)
	if storageRoot == types.EmptyRootHash || codeHash == types.EmptyCodeHash {
		t.Fatal("the contract has no storage or no code")
	}

	tamper := func(what string, key []byte, value []byte) {
		t.Helper()
		orig, err := db.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		if value == nil {
			err = db.Delete(key)
		} else {
			err = db.Put(key, value)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyState(db, root); !errors.Is(err, ErrBadState) {
			t.Errorf("%s: VerifyState = %v, want ErrBadState", what, err)
		}
		if err := db.Put(key, orig); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyState(db, root); err != nil {
			t.Fatalf("%s restored: %v", what, err)
		}
	}
	inner := accountNodes[len(accountNodes)-1]
	other := rawdb.ReadLegacyTrieNode(db, accountNodes[0])
	tamper("inner account node replaced by another valid node", inner.Bytes(), other)
	tamper("inner account node replaced by garbage", inner.Bytes(), []byte("not a trie node"))
	tamper("inner account node deleted", inner.Bytes(), nil)
	tamper("account root replaced by another valid node", root.Bytes(), rawdb.ReadLegacyTrieNode(db, inner))
	tamper("storage root replaced", storageRoot.Bytes(), []byte{0xc0})
	code := rawdb.ReadCode(db, codeHash)
	tamper("contract code altered", codeKey(db, codeHash), append([]byte{0x00}, code...))
}

// codeKey is where the code with hash h is stored.
func codeKey(db ethdb.KeyValueReader, h common.Hash) []byte {
	if len(rawdb.ReadCodeWithPrefix(db, h)) > 0 {
		return append(append([]byte(nil), rawdb.CodePrefix...), h.Bytes()...)
	}
	return h.Bytes()
}
