package chain

import (
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
)

// State is kept with go-ethereum's path scheme (triedb/pathdb), as on a
// current go-ethereum full node: every block adds an in-memory layer of trie
// nodes and flat accounts keyed by path; below the latest 128 layers they
// merge into a write buffer, written to disk as one batch, in the
// background, when it outgrows Config.WriteBufferBytes. Nodes are
// overwritten in place, so the database holds one state, not every block's,
// and execution reads accounts flat instead of walking the trie.
//
// Blocks, receipts and lookups are written at every block, without fsync:
// the Coco ledger, fsynced before any block executes, is what makes a block
// durable. After a crash the state on disk is an older block's (at most
// maxUnwrittenBlocks old): the chain starts from the newest block whose
// state it can open, and the node executes the later ones again from its
// ledger. A clean Close journals the
// layers, so a restart resumes at the head with the recent states readable.
//
// go-ethereum's state history (a freezer of plain files for rewinding) is
// not kept: the ethdb adapter has no ancient store, so everything the state
// writes goes through the encrypted store.

// maxUnwrittenBlocks bounds how many blocks a crash can make the node
// execute again when blocks are too small to fill the write buffer: every
// that many blocks the head state is written to disk (and the older states
// kept in memory are merged into it).
var maxUnwrittenBlocks uint64 = 10_000 // a variable for tests

// maxWriteBuffer is pathdb's own bound on the write buffer.
const maxWriteBuffer = 256 << 20

// recentStates is how many of the latest blocks keep their state readable
// (pathdb's in-memory layers, go-ethereum's TriesInMemory).
const recentStates = 128

// ErrStateUnavailable means the state of a block is no longer kept: only
// the latest blocks' are.
var ErrStateUnavailable = errors.New("state not available")

// ErrStateScheme means the database holds state in go-ethereum's hash
// scheme, written by a Coco build from before the path scheme.
var ErrStateScheme = errors.New("ethereum state stored in the hash scheme")

// checkScheme refuses a database whose state another scheme wrote.
func checkScheme(db ethdb.Database) error {
	if scheme := rawdb.ReadStateScheme(db); scheme == rawdb.HashScheme {
		return fmt.Errorf("%w: this build keeps it in the path scheme; start the node from a new data directory (it catches up from its peers) or replay the ledger into one", ErrStateScheme)
	}
	return nil
}

// resume decides the head the chain presents on open: the newest stored
// block whose state the trie database holds. Blocks above it were executed
// before a crash; the node executes them again.
func (c *Chain) resume(stored *types.Header) (*types.Header, error) {
	top := stored.Number.Uint64()
	// Blocks stored above the head come from an earlier crash during
	// replay; they are checked like the others when executed again.
	c.replayTo = top
	for rawdb.ReadCanonicalHash(c.db, c.replayTo+1) != (common.Hash{}) {
		c.replayTo++
	}
	for n := top; ; n-- {
		head := c.storedHeader(n)
		if head == nil {
			return nil, fmt.Errorf("%w: no header for block %d", ErrCorrupt, n)
		}
		if _, err := c.tdb.StateReader(head.Root); err == nil {
			if n < top {
				c.log.Info("state on disk is older than the stored head; later blocks will be executed again",
					"state_at", n, "stored_head", top, "stored_above", c.replayTo)
			}
			return head, nil
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: no stored block has its state in the database", ErrCorrupt)
		}
	}
}

// storedHeader reads the canonical header at number, above the head too.
func (c *Chain) storedHeader(number uint64) *types.Header {
	hash := rawdb.ReadCanonicalHash(c.db, number)
	if hash == (common.Hash{}) {
		return nil
	}
	return rawdb.ReadHeader(c.db, hash, number)
}

// diskRoot is the root of the state written to disk.
func diskRoot(db ethdb.KeyValueReader) common.Hash {
	blob := rawdb.ReadAccountTrieNode(db, nil)
	if len(blob) == 0 {
		return types.EmptyRootHash
	}
	return crypto.Keccak256Hash(blob)
}

// flushLocked writes the state of head to disk and waits until it is
// there, so that the database alone holds it. The layers of older blocks
// merge into it: their states are no longer readable. Called with execMu
// held.
func (c *Chain) flushLocked(head *types.Header) error {
	if diskRoot(c.db) == head.Root {
		return nil
	}
	if err := c.tdb.Commit(head.Root, false); err != nil {
		return fmt.Errorf("write state of block %d: %w", head.Number.Uint64(), err)
	}
	// pathdb writes the buffer in the background, in one batch whose trie
	// root lands with everything else.
	for deadline := time.Now().Add(time.Minute); diskRoot(c.db) != head.Root; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("write state of block %d: not on disk after a minute", head.Number.Uint64())
		}
	}
	return nil
}

// closeLocked journals the state layers kept in memory, so that a clean
// restart resumes at the head with the recent states readable. Called with
// execMu held.
func (c *Chain) closeLocked() error {
	head := c.head.Load()
	if err := c.tdb.Journal(head.Root); err != nil {
		return fmt.Errorf("journal state of block %d: %w", head.Number.Uint64(), err)
	}
	if err := c.db.SyncKeyValue(); err != nil {
		return fmt.Errorf("sync state journal: %w", err)
	}
	return nil
}
