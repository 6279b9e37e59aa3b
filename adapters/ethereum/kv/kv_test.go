package kv

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"testing"

	"github.com/cocoledger/coco/core/state"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	gethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/dbtest"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/triedb"
	"github.com/ethereum/go-ethereum/triedb/pathdb"
	"github.com/holiman/uint256"
)

var testKey = bytes.Repeat([]byte{0x42}, state.KeySize)

func openDB(t testing.TB, dir string) *state.DB {
	t.Helper()
	db, err := state.Open(dir, state.Options{Key: testKey, CacheSize: 16 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestDatabaseSuite runs go-ethereum's conformance suite for key-value
// stores. Every store it asks for is a fresh namespace of one shared
// database, which also checks that namespaces do not see each other.
func TestDatabaseSuite(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	n := 0
	dbtest.TestDatabaseSuite(t, func() ethdb.KeyValueStore {
		n++
		return New(db.Namespace(fmt.Sprintf("suite%d", n)))
	})
	// The adapters were all closed by the suite; the database was not.
	if err := db.Namespace("after").Put([]byte("k"), []byte("v")); err != nil {
		t.Fatalf("shared database unusable after the adapters closed: %v", err)
	}
}

func TestErrors(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	kv := New(db.Namespace("eth"))
	if _, err := kv.Get([]byte("absent")); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get of absent key: %v, want state.ErrNotFound", err)
	}
	kv.Close()
	if _, err := kv.Get([]byte("absent")); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Get after Close: %v, want state.ErrClosed", err)
	}
	it := kv.NewIterator(nil, nil)
	if it.Next() || !errors.Is(it.Error(), state.ErrClosed) {
		t.Errorf("iterator after Close: %v", it.Error())
	}
	it.Release()
	if _, err := kv.Stat(); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Stat after Close: %v", err)
	}
	if s, err := New(db.Namespace("eth")).Stat(); err != nil || s == "" {
		t.Errorf("Stat = %q, %v", s, err)
	}
	if err := New(db.Namespace("eth")).Compact(nil, nil); err != nil {
		t.Errorf("Compact: %v", err)
	}
}

// TestStateRoundTrip commits an Ethereum world state (accounts, storage,
// code) through go-ethereum's state and hash-based trie database, reopens
// the node's database and reads it back at the committed root.
func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	var (
		alice   = common.HexToAddress("0x00000000000000000000000000000000000a11ce")
		bob     = common.HexToAddress("0x0000000000000000000000000000000000000b0b")
		slot    = common.HexToHash("0x01")
		slotVal = common.HexToHash("0xdeadbeef")
		code    = []byte{0x60, 0x00, 0x60, 0x00, 0xf3} // PUSH1 0 PUSH1 0 RETURN
		rules   = params.TestChainConfig.Rules(big.NewInt(1), true, 0)
	)

	db := openDB(t, dir)
	edb := rawdb.NewDatabase(New(db.Namespace("eth")))
	tdb := triedb.NewDatabase(edb, &triedb.Config{PathDB: pathdb.Defaults})
	sdb, err := gethstate.New(types.EmptyRootHash, gethstate.NewDatabase(tdb, gethstate.NewCodeDB(edb)))
	if err != nil {
		t.Fatal(err)
	}
	sdb.SetBalance(alice, uint256.NewInt(1_000_000), tracing.BalanceChangeUnspecified)
	sdb.SetNonce(alice, 7, tracing.NonceChangeUnspecified)
	sdb.SetBalance(bob, uint256.NewInt(5), tracing.BalanceChangeUnspecified)
	sdb.SetCode(bob, code, tracing.CodeChangeUnspecified)
	sdb.SetState(bob, slot, slotVal)
	root, err := sdb.Commit(rules, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tdb.Commit(root, false); err != nil {
		t.Fatal(err)
	}
	if err := tdb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := edb.Close(); err != nil { // closes the adapter only
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, dir)
	defer db.Close()
	edb = rawdb.NewDatabase(New(db.Namespace("eth")))
	tdb = triedb.NewDatabase(edb, &triedb.Config{PathDB: pathdb.Defaults})
	defer tdb.Close()
	sdb, err = gethstate.New(root, gethstate.NewDatabase(tdb, gethstate.NewCodeDB(edb)))
	if err != nil {
		t.Fatalf("open state at %x after reopen: %v", root, err)
	}
	if got := sdb.GetBalance(alice); got.Uint64() != 1_000_000 {
		t.Errorf("alice balance = %v", got)
	}
	if got := sdb.GetNonce(alice); got != 7 {
		t.Errorf("alice nonce = %d", got)
	}
	if got := sdb.GetBalance(bob); got.Uint64() != 5 {
		t.Errorf("bob balance = %v", got)
	}
	if got := sdb.GetCode(bob); !bytes.Equal(got, code) {
		t.Errorf("bob code = %x", got)
	}
	if got := sdb.GetCodeHash(bob); got != crypto.Keccak256Hash(code) {
		t.Errorf("bob code hash = %x", got)
	}
	if got := sdb.GetState(bob, slot); got != slotVal {
		t.Errorf("bob storage = %x", got)
	}
	if err := sdb.Error(); err != nil {
		t.Errorf("state error: %v", err)
	}

	// The trie nodes went through the encrypting store: none is readable
	// from raw Pebble under the namespace in plaintext.
	raw, closer, err := db.Pebble().Get(append([]byte("n/eth/"), rawdb.TrieNodeAccountPrefix...)) // the root node's path is empty
	if err != nil {
		t.Fatalf("root node not under the namespace prefix: %v", err)
	}
	defer closer.Close()
	if crypto.Keccak256Hash(raw) == root {
		t.Error("root trie node is stored in plaintext")
	}
}

// BenchmarkStateCommit measures committing 1000 accounts with one storage
// slot each through go-ethereum's state over the adapter.
func BenchmarkStateCommit(b *testing.B) {
	db := openDB(b, b.TempDir())
	defer db.Close()
	edb := rawdb.NewDatabase(New(db.Namespace("eth")))
	tdb := triedb.NewDatabase(edb, &triedb.Config{PathDB: pathdb.Defaults})
	sdbase := gethstate.NewDatabase(tdb, gethstate.NewCodeDB(edb))
	rules := params.TestChainConfig.Rules(big.NewInt(1), true, 0)
	root := types.EmptyRootHash
	var block uint64
	for b.Loop() {
		block++
		sdb, err := gethstate.New(root, sdbase)
		if err != nil {
			b.Fatal(err)
		}
		for i := range 1000 {
			addr := common.BigToAddress(big.NewInt(int64(i)))
			sdb.AddBalance(addr, uint256.NewInt(1), tracing.BalanceChangeUnspecified)
			sdb.SetState(addr, common.Hash{1}, common.BigToHash(new(big.Int).SetUint64(block)))
		}
		if root, err = sdb.Commit(rules, block); err != nil {
			b.Fatal(err)
		}
		if err := tdb.Commit(root, false); err != nil {
			b.Fatal(err)
		}
	}
}
