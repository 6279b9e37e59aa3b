package chain

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"
)

// innerAccountPath is the path of a hashed (not embedded) account trie node
// below the root.
func innerAccountPath(t *testing.T, db ethdb.Database, root common.Hash) []byte {
	t.Helper()
	tr, err := trie.New(trie.StateTrieID(root), &verifier{db: db, stats: &StateStats{}})
	if err != nil {
		t.Fatal(err)
	}
	it, err := tr.NodeIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	for it.Next(true) {
		if it.Hash() != (common.Hash{}) && len(it.Path()) > 0 {
			return bytes.Clone(it.Path())
		}
	}
	t.Fatalf("account trie has no inner hashed node (%v)", it.Error())
	return nil
}

// Flush writes the head state to disk, VerifyState accepts it, and any
// altered, swapped or missing trie node, flat entry or contract code is
// refused.
func TestVerifyStateDetectsTampering(t *testing.T) {
	db := rawdb.NewMemoryDatabase()
	c, err := New(db, bufferConfig(32<<20), nil, quietLog())
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
	root := c.CurrentHeader().Root
	if _, err := VerifyState(db, root); err == nil {
		t.Fatal("the head state is only in memory, yet VerifyState accepts the database")
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if diskRoot(db) != root {
		t.Fatal("Flush returned before the head state was on disk")
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
	// The chain keeps executing on the flushed state.
	if _, err := c.Execute(execBlock(13, nil)); err != nil {
		t.Fatal(err)
	}

	st, err := c.StateAt(12)
	if err != nil {
		t.Fatal(err)
	}
	contract := crypto.CreateAddress(addr(key(4)), 0)
	contractHash := crypto.Keccak256Hash(contract.Bytes())
	codeHash := st.GetCodeHash(contract)
	if st.GetStorageRoot(contract) == types.EmptyRootHash || codeHash == types.EmptyCodeHash {
		t.Fatal("the contract has no storage or no code")
	}
	slotHash := crypto.Keccak256Hash(common.Hash{}.Bytes())
	sender := crypto.Keccak256Hash(addr(key(1)).Bytes())
	inner := innerAccountPath(t, db, root)

	// tamper changes one entry through get/set, expects VerifyState to
	// refuse the state, and puts the entry back.
	tamper := func(what string, get func() []byte, set func([]byte), value []byte) {
		t.Helper()
		orig := get()
		set(value)
		if _, err := VerifyState(db, root); !errors.Is(err, ErrBadState) {
			t.Errorf("%s: VerifyState = %v, want ErrBadState", what, err)
		}
		set(orig)
		if _, err := VerifyState(db, root); err != nil {
			t.Fatalf("%s restored: %v", what, err)
		}
	}
	accountNode := func(path []byte) (func() []byte, func([]byte)) {
		return func() []byte { return rawdb.ReadAccountTrieNode(db, path) },
			func(v []byte) {
				if v == nil {
					rawdb.DeleteAccountTrieNode(db, path)
				} else {
					rawdb.WriteAccountTrieNode(db, path, v)
				}
			}
	}
	get, set := accountNode(inner)
	tamper("inner account node replaced by another valid node", get, set, rawdb.ReadAccountTrieNode(db, nil))
	tamper("inner account node replaced by garbage", get, set, []byte("not a trie node"))
	tamper("inner account node deleted", get, set, nil)
	get, set = accountNode(nil)
	tamper("account root replaced by another valid node", get, set, rawdb.ReadAccountTrieNode(db, inner))
	tamper("storage root replaced",
		func() []byte { return rawdb.ReadStorageTrieNode(db, contractHash, nil) },
		func(v []byte) { rawdb.WriteStorageTrieNode(db, contractHash, nil, v) }, []byte{0xc0})
	tamper("contract code altered",
		func() []byte { return rawdb.ReadCode(db, codeHash) },
		func(v []byte) { rawdb.WriteCode(db, codeHash, v) }, append([]byte{0x00}, rawdb.ReadCode(db, codeHash)...))

	flatAccount := func(h common.Hash) (func() []byte, func([]byte)) {
		return func() []byte { return rawdb.ReadAccountSnapshot(db, h) },
			func(v []byte) {
				if v == nil {
					rawdb.DeleteAccountSnapshot(db, h)
				} else {
					rawdb.WriteAccountSnapshot(db, h, v)
				}
			}
	}
	richer := types.SlimAccountRLP(types.StateAccount{Nonce: 1, Balance: st.GetBalance(contract).Clone().Lsh(st.GetBalance(contract), 1), Root: types.EmptyRootHash, CodeHash: types.EmptyCodeHash.Bytes()})
	get, set = flatAccount(sender)
	tamper("flat account altered", get, set, richer)
	tamper("flat account deleted", get, set, nil)
	get, set = flatAccount(common.Hash{0xee})
	tamper("flat account added", get, set, richer)
	tamper("flat slot altered",
		func() []byte { return rawdb.ReadStorageSnapshot(db, contractHash, slotHash) },
		func(v []byte) { rawdb.WriteStorageSnapshot(db, contractHash, slotHash, v) }, []byte{0x81, 0xff})
	unfinished, err := rlp.EncodeToBytes(struct {
		Wiping, Done             bool
		Marker                   []byte
		Accounts, Slots, Storage uint64
	}{Marker: []byte{0x10}})
	if err != nil {
		t.Fatal(err)
	}
	tamper("flat state marked unfinished",
		func() []byte { return rawdb.ReadSnapshotGenerator(db) },
		func(v []byte) { rawdb.WriteSnapshotGenerator(db, v) }, unfinished)
}
