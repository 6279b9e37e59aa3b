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
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/triedb"
	"github.com/ethereum/go-ethereum/triedb/hashdb"
)

// ErrBadState means stored state does not hash to the root it is read
// under: a trie node or a contract's code is missing or was altered.
var ErrBadState = errors.New("ethereum state fails verification")

var (
	_ node.Flusher       = (*Chain)(nil)
	_ node.StateVerifier = (*Chain)(nil)
)

// StateStats counts what VerifyState checked.
type StateStats struct {
	Accounts     int // account leaves
	Slots        int // storage leaves, over every account
	Nodes        int // trie nodes stored by hash
	Codes        int // distinct contract codes
	NodeBytes    int64
	StorageTries int // distinct non-empty storage tries
}

// Flush implements node.Flusher: it writes the head state, kept in memory
// since the last flush, to the database, so that the database alone holds
// the state of Height() (a node does this before serving a snapshot).
func (c *Chain) Flush() error {
	c.execMu.Lock()
	defer c.execMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	head := c.head.Load()
	if head.Number.Uint64() == c.flushed {
		return nil
	}
	return c.flushLocked(head)
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

// VerifyState walks the account trie under root and every storage trie it
// references, as stored in db with go-ethereum's hash scheme, and checks
// that every node stored by hash hashes to it (keccak256 of its encoding)
// and that every contract's code hashes to its code hash. Together that
// proves the stored state is complete and is the state root commits to:
// nothing in it can have been altered without changing root.
func VerifyState(db ethdb.Database, root common.Hash) (stats StateStats, err error) {
	// A forged node may not even decode; go-ethereum's iterator panics on
	// those, which must not take the node down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: undecodable trie node: %v", ErrBadState, r)
		}
	}()
	tdb := triedb.NewDatabase(db, &triedb.Config{HashDB: &hashdb.Config{}})
	defer tdb.Close()
	v := &verifier{db: db, tdb: tdb, stats: &stats, storage: map[common.Hash]bool{}, codes: map[common.Hash]bool{}}
	err = v.walk(trie.StateTrieID(root), root, func(key, blob []byte) error {
		acc, err := types.FullAccount(blob)
		if err != nil {
			return fmt.Errorf("%w: account %x: %v", ErrBadState, key, err)
		}
		stats.Accounts++
		if acc.Root != types.EmptyRootHash && !v.storage[acc.Root] {
			v.storage[acc.Root] = true
			stats.StorageTries++
			err := v.walk(trie.StorageTrieID(root, common.BytesToHash(key), acc.Root), acc.Root, func([]byte, []byte) error {
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
	return stats, err
}

type verifier struct {
	db      ethdb.KeyValueReader
	tdb     *triedb.Database
	stats   *StateStats
	storage map[common.Hash]bool // storage roots walked already
	codes   map[common.Hash]bool
}

// node reads the node stored under hash and checks that it hashes to it.
func (v *verifier) node(hash common.Hash) ([]byte, error) {
	blob := rawdb.ReadLegacyTrieNode(v.db, hash)
	if len(blob) == 0 {
		return nil, fmt.Errorf("%w: trie node %v missing", ErrBadState, hash)
	}
	if got := crypto.Keccak256Hash(blob); got != hash {
		return nil, fmt.Errorf("%w: trie node %v hashes to %v", ErrBadState, hash, got)
	}
	v.stats.Nodes++
	v.stats.NodeBytes += int64(len(blob))
	return blob, nil
}

// walk visits every node of the trie id under root, checking each one
// stored by hash before it is decoded, and calls leaf for every value.
func (v *verifier) walk(id *trie.ID, root common.Hash, leaf func(key, blob []byte) error) error {
	if root == types.EmptyRootHash || root == (common.Hash{}) {
		return nil
	}
	if _, err := v.node(root); err != nil {
		return err
	}
	tr, err := trie.New(id, v.tdb)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, err)
	}
	it, err := tr.NodeIterator(nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, err)
	}
	// The iterator resolves every child it reaches by hash through this
	// first; a node that fails is reported and the walk stops.
	var bad error
	it.AddResolver(func(_ common.Hash, _ []byte, hash common.Hash) []byte {
		blob, err := v.node(hash)
		if err != nil && bad == nil {
			bad = err
		}
		return blob
	})
	for it.Next(true) {
		if bad != nil {
			return bad
		}
		if it.Leaf() {
			if err := leaf(bytes.Clone(it.LeafKey()), bytes.Clone(it.LeafBlob())); err != nil {
				return err
			}
		}
	}
	if bad != nil {
		return bad
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, err)
	}
	return nil
}
