package chain

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cocoledger/coco/core/node"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/triedb/database"
)

// ErrBadState means stored state does not hash to the root it is read
// under: a trie node, a flat account or slot, or a contract's code is
// missing, extra or altered.
var ErrBadState = errors.New("ethereum state fails verification")

var (
	_ node.Flusher       = (*Chain)(nil)
	_ node.StateVerifier = (*Chain)(nil)
)

// StateStats counts what VerifyState checked.
type StateStats struct {
	Accounts     int // account leaves, each matched by its flat entry
	Slots        int // storage leaves over every account, each matched too
	Nodes        int // trie nodes
	Codes        int // distinct contract codes
	NodeBytes    int64
	StorageTries int // non-empty storage tries
}

// Flush implements node.Flusher: it writes the head state to the database
// and waits until it is there, so that the database alone holds the state
// of Height() (a node does this before serving a snapshot).
func (c *Chain) Flush() error {
	c.execMu.Lock()
	defer c.execMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.flushLocked(c.head.Load())
}

// VerifyState implements node.StateVerifier: it checks the whole state of
// the head block as stored in the database (see VerifyState).
func (c *Chain) VerifyState() error {
	head := c.head.Load()
	stats, err := VerifyState(c.db, head.Root)
	if err != nil {
		return fmt.Errorf("state of block %d: %w", head.Number.Uint64(), err)
	}
	c.log.Info("state verified", "number", head.Number.Uint64(), "root", head.Root, "accounts", stats.Accounts,
		"slots", stats.Slots, "trie_nodes", stats.Nodes, "codes", stats.Codes, "trie_bytes", stats.NodeBytes)
	return nil
}

// VerifyState checks the state under root as written to db with
// go-ethereum's path scheme: it walks the account trie and every storage
// trie, checking that each node stored under its path hashes to the
// reference its parent holds; that the flat accounts and slots execution
// reads are exactly the trie's leaves, none missing, altered or extra; and
// that every contract's code hashes to its code hash. Together that proves
// the stored state is complete and is the state root commits to.
func VerifyState(db ethdb.Database, root common.Hash) (stats StateStats, err error) {
	// A forged node may not even decode; go-ethereum's iterator panics on
	// those, which must not take the node down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: undecodable trie node: %v", ErrBadState, r)
		}
	}()
	if err := checkGenerated(db); err != nil {
		return stats, err
	}
	v := &verifier{db: db, stats: &stats, codes: map[common.Hash]bool{}}
	err = v.walk(trie.StateTrieID(root), func(key, blob []byte) error {
		acc, err := types.FullAccount(blob)
		if err != nil {
			return fmt.Errorf("%w: account %x: %v", ErrBadState, key, err)
		}
		accHash := common.BytesToHash(key)
		if flat := rawdb.ReadAccountSnapshot(db, accHash); !bytes.Equal(flat, types.SlimAccountRLP(*acc)) {
			return fmt.Errorf("%w: flat account %x differs from the trie", ErrBadState, key)
		}
		stats.Accounts++
		if acc.Root != types.EmptyRootHash {
			stats.StorageTries++
			err := v.walk(trie.StorageTrieID(root, accHash, acc.Root), func(slot, value []byte) error {
				if flat := rawdb.ReadStorageSnapshot(db, accHash, common.BytesToHash(slot)); !bytes.Equal(flat, value) {
					return fmt.Errorf("%w: flat slot %x differs from the trie", ErrBadState, slot)
				}
				stats.Slots++
				return nil
			})
			if err != nil {
				return fmt.Errorf("storage of account %x: %w", key, err)
			}
		}
		if codeHash := common.BytesToHash(acc.CodeHash); codeHash != types.EmptyCodeHash && !v.codes[codeHash] {
			code := rawdb.ReadCode(db, codeHash)
			if len(code) == 0 {
				return fmt.Errorf("%w: account %x: code %v missing", ErrBadState, key, codeHash)
			}
			if crypto.Keccak256Hash(code) != codeHash {
				return fmt.Errorf("%w: account %x: code does not hash to %v", ErrBadState, key, codeHash)
			}
			v.codes[codeHash] = true
			stats.Codes++
		}
		return nil
	})
	if err != nil {
		return stats, err
	}
	// Every trie leaf has its flat entry; now no flat entry may be extra.
	accounts, slots, err := countFlat(db)
	if err != nil {
		return stats, err
	}
	if accounts != stats.Accounts || slots != stats.Slots {
		return stats, fmt.Errorf("%w: %d flat accounts and %d flat slots for %d and %d in the trie", ErrBadState, accounts, slots, stats.Accounts, stats.Slots)
	}
	return stats, nil
}

// checkGenerated requires the flat state to be complete: pathdb would
// otherwise regenerate part of it, and VerifyState could not vouch for
// what it reads.
func checkGenerated(db ethdb.KeyValueReader) error {
	blob := rawdb.ReadSnapshotGenerator(db)
	if len(blob) == 0 {
		return fmt.Errorf("%w: no flat-state generation marker", ErrBadState)
	}
	// pathdb's journalGenerator, field for field (go-ethereum v1.17).
	var gen struct {
		Wiping                   bool
		Done                     bool
		Marker                   []byte
		Accounts, Slots, Storage uint64
	}
	if err := rlp.DecodeBytes(blob, &gen); err != nil {
		return fmt.Errorf("%w: flat-state generation marker: %v", ErrBadState, err)
	}
	if !gen.Done {
		return fmt.Errorf("%w: flat state not fully generated", ErrBadState)
	}
	return nil
}

// countFlat counts the flat accounts and slots stored.
func countFlat(db ethdb.Iteratee) (accounts, slots int, err error) {
	count := func(prefix []byte, keyLen int) (int, error) {
		it := db.NewIterator(prefix, nil)
		defer it.Release()
		n := 0
		for it.Next() {
			if len(it.Key()) == keyLen {
				n++
			}
		}
		return n, it.Error()
	}
	if accounts, err = count(rawdb.SnapshotAccountPrefix, len(rawdb.SnapshotAccountPrefix)+common.HashLength); err != nil {
		return 0, 0, err
	}
	slots, err = count(rawdb.SnapshotStoragePrefix, len(rawdb.SnapshotStoragePrefix)+2*common.HashLength)
	return accounts, slots, err
}

// verifier reads trie nodes by path for go-ethereum's trie iterator and
// checks each against the hash its parent references.
type verifier struct {
	db    ethdb.KeyValueReader
	stats *StateStats
	codes map[common.Hash]bool // codes checked already
}

// NodeReader implements database.NodeDatabase.
func (v *verifier) NodeReader(common.Hash) (database.NodeReader, error) { return v, nil }

// Node implements database.NodeReader.
func (v *verifier) Node(owner common.Hash, path []byte, hash common.Hash) ([]byte, error) {
	var blob []byte
	if owner == (common.Hash{}) {
		blob = rawdb.ReadAccountTrieNode(v.db, path)
	} else {
		blob = rawdb.ReadStorageTrieNode(v.db, owner, path)
	}
	if len(blob) == 0 {
		return nil, fmt.Errorf("%w: trie node %v (owner %v, path %x) missing", ErrBadState, hash, owner, path)
	}
	if got := crypto.Keccak256Hash(blob); got != hash {
		return nil, fmt.Errorf("%w: trie node at owner %v path %x hashes to %v, its parent references %v", ErrBadState, owner, path, got, hash)
	}
	v.stats.Nodes++
	v.stats.NodeBytes += int64(len(blob))
	return blob, nil
}

// walk visits every node of the trie id, each checked as it is read, and
// calls leaf for every value.
func (v *verifier) walk(id *trie.ID, leaf func(key, blob []byte) error) error {
	if id.Root == types.EmptyRootHash || id.Root == (common.Hash{}) {
		return nil
	}
	tr, err := trie.New(id, v)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, err)
	}
	it, err := tr.NodeIterator(nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, err)
	}
	for it.Next(true) {
		if it.Leaf() {
			if err := leaf(bytes.Clone(it.LeafKey()), bytes.Clone(it.LeafBlob())); err != nil {
				return err
			}
		}
	}
	if err := it.Error(); err != nil {
		if errors.Is(err, ErrBadState) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrBadState, err)
	}
	return nil
}
