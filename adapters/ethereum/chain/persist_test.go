package chain

import (
	"errors"
	"math/big"
	"path/filepath"
	"testing"

	"github.com/cocoledger/coco/core/node"
	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/leveldb"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/triedb"
)

// bufferConfig writes state to disk once bufferBytes of changes gathered
// below the in-memory layers.
func bufferConfig(bufferBytes int) Config {
	cfg := testConfig(4)
	cfg.WriteBufferBytes = bufferBytes
	return cfg
}

// openChain opens the chain stored on disk in dir; the test closes the
// chain and the database.
func openChain(t *testing.T, dir string, cfg Config) (*Chain, ethdb.Database) {
	t.Helper()
	kv, err := leveldb.New(filepath.Join(dir, "eth"), 16, 16, "", false)
	if err != nil {
		t.Fatal(err)
	}
	db := rawdb.NewDatabase(kv)
	c, err := New(db, cfg, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return c, db
}

// workload builds n blocks: block 1 deploys the counter contract, every
// block has transfers from keys 1-3 and a call that stores the block number
// in the contract, so both the account trie and a storage trie change.
func workload(s *sim, n int) []*node.ExecBlock {
	deployer := key(4)
	contract := crypto.CreateAddress(addr(deployer), 0)
	blocks := make([]*node.ExecBlock, n+1)
	for i := 1; i <= n; i++ {
		var txs []coretypes.Tx
		for k := 1; k <= 3; k++ {
			txs = s.txsFor(txs, s.transfer(key(k), uint64(i-1), addr(key(k%3+1)), big.NewInt(int64(i))))
		}
		if i == 1 {
			txs = s.txsFor(txs, s.dynTx(deployer, 0, nil, nil, 200_000, big.NewInt(2*params.GWei), gwei, common.FromHex(counterInit)))
		} else {
			word := common.BigToHash(big.NewInt(int64(i)))
			txs = s.txsFor(txs, s.dynTx(deployer, uint64(i-1), &contract, nil, 100_000, big.NewInt(2*params.GWei), gwei, word.Bytes()))
		}
		blocks[i] = execBlock(uint64(i), txs)
	}
	return blocks
}

// A crash loses the state of the latest blocks: the reopened chain stands
// at the newest block whose state reached the disk, and executing the later
// blocks again from the same ledger blocks gives the same Ethereum blocks
// and states.
func TestCrashResumesFromStoredState(t *testing.T) {
	const blocks = 300
	dir := t.TempDir()
	cfg := bufferConfig(16 << 10) // a few blocks of workload
	c, db := openChain(t, dir, cfg)
	s := &sim{t: t, c: c}
	in := workload(s, blocks)
	hashes := make([]common.Hash, blocks+1)
	roots := make([]coretypes.Hash, blocks+1)
	for n := 1; n <= blocks; n++ {
		var err error
		if roots[n], err = c.Execute(in[n]); err != nil {
			t.Fatalf("block %d: %v", n, err)
		}
		hashes[n] = c.CurrentHeader().Hash()
		if got := len(c.BlockByNumber(uint64(n)).Transactions()); got != 4 {
			t.Fatalf("block %d has %d txs", n, got)
		}
	}
	// While running, Height is the latest executed block.
	if c.Height() != blocks || c.Root() != roots[blocks] {
		t.Fatalf("running height %d", c.Height())
	}
	// Crash: the chain is dropped without Close, its memory lost.
	db.Close()

	reopen := func(atMost uint64) (*Chain, ethdb.Database, uint64) {
		t.Helper()
		c, db := openChain(t, dir, cfg)
		h := c.Height()
		if h == 0 || h > atMost || c.Root() != roots[h] || c.CurrentHeader().Hash() != hashes[h] {
			t.Fatalf("reopened at %d root %v, want a block in 1..%d with its root", h, c.Root(), atMost)
		}
		if c.HeaderByNumber(h+1) != nil || c.BlockByNumber(blocks) != nil {
			t.Fatal("blocks above the stored state are served before they are executed again")
		}
		return c, db, h
	}
	// The latest blocks' state lives only in memory layers.
	c, db, resumed := reopen(blocks - recentStates)
	// The node replays from Height()+1; the resumed block itself is a
	// no-op replay.
	if r, err := c.Execute(in[resumed]); err != nil || r != roots[resumed] {
		t.Fatalf("replay of the resumed block: %v", err)
	}
	forked := *in[resumed+1]
	forked.Hash[0] ^= 1
	if _, err := c.Execute(&forked); !errors.Is(err, ErrDiverged) {
		t.Fatalf("another block %d than before the crash: %v", resumed+1, err)
	}
	// Crash again half-way through the replay.
	for n := resumed + 1; n <= resumed+5; n++ {
		if r, err := c.Execute(in[n]); err != nil || r != roots[n] || c.CurrentHeader().Hash() != hashes[n] {
			t.Fatalf("re-execute block %d: root %v, %v", n, r, err)
		}
	}
	db.Close()

	c, db, resumed = reopen(resumed + 5)
	for n := resumed + 1; n <= blocks; n++ {
		r, err := c.Execute(in[n])
		if err != nil {
			t.Fatalf("re-execute block %d: %v", n, err)
		}
		if r != roots[n] || c.CurrentHeader().Hash() != hashes[n] {
			t.Fatalf("block %d executed again: hash %v root %v, before the crash %v %v", n, c.CurrentHeader().Hash(), r, hashes[n], roots[n])
		}
	}
	last := c.BlockByNumber(blocks)
	tx, bh, num, _ := c.Transaction(last.Transactions()[0].Hash())
	if tx == nil || bh != hashes[blocks] || num != blocks {
		t.Fatalf("lookup of a re-executed transaction: %v %v %d", tx, bh, num)
	}
	if rs := c.Receipts(hashes[blocks]); len(rs) != 4 || rs[3].Status != 1 {
		t.Fatalf("receipts of a re-executed block: %v", rs)
	}
	st, err := c.StateAt(blocks)
	if err != nil {
		t.Fatal(err)
	}
	contract := crypto.CreateAddress(addr(key(4)), 0)
	if got := st.GetState(contract, common.Hash{}); got != common.BigToHash(big.NewInt(blocks)) {
		t.Fatalf("contract slot %v", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute(execBlock(blocks+1, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("execute after close: %v", err)
	}
	db.Close()
}

// A clean Close journals the layers: the reopened chain stands at the last
// executed block, with the recent states readable.
func TestCloseJournals(t *testing.T) {
	const blocks = 20
	dir := t.TempDir()
	cfg := bufferConfig(32 << 20)
	c, db := openChain(t, dir, cfg)
	s := &sim{t: t, c: c}
	in := workload(s, blocks)
	for n := 1; n <= blocks; n++ {
		if _, err := c.Execute(in[n]); err != nil {
			t.Fatal(err)
		}
	}
	if diskRoot(db) != c.HeaderByNumber(0).Root {
		t.Fatal("state written to disk before Close with a large buffer")
	}
	head := c.CurrentHeader()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	db.Close()

	c, db = openChain(t, dir, cfg)
	defer db.Close()
	defer c.Close()
	if c.Height() != blocks || c.CurrentHeader().Hash() != head.Hash() || c.Root() != coretypes.Hash(head.Root) {
		t.Fatalf("reopened at %d", c.Height())
	}
	for _, n := range []uint64{1, blocks / 2, blocks} {
		st, err := c.StateAt(n)
		if err != nil {
			t.Fatalf("state at %d after a clean restart: %v", n, err)
		}
		if got := st.GetNonce(addr(key(1))); got != n {
			t.Fatalf("nonce at block %d is %d", n, got)
		}
	}
}

// The latest blocks' states are readable; older ones fail with
// ErrStateUnavailable, their blocks still served.
func TestStateAvailability(t *testing.T) {
	const blocks = 200
	s := newSim(t, nil, bufferConfig(16<<10))
	in := workload(s, blocks)
	for n := 1; n <= blocks; n++ {
		if _, err := s.c.Execute(in[n]); err != nil {
			t.Fatal(err)
		}
	}
	oldest := uint64(blocks - recentStates)
	for _, n := range []uint64{oldest, oldest + 1, blocks - 1, blocks} {
		st, err := s.c.StateAt(n)
		if err != nil {
			t.Fatalf("state at %d: %v", n, err)
		}
		if got := st.GetNonce(addr(key(1))); got != n {
			t.Fatalf("nonce at block %d is %d", n, got)
		}
	}
	for _, n := range []uint64{0, 1, oldest - 1} {
		if _, err := s.c.StateAt(n); !errors.Is(err, ErrStateUnavailable) {
			t.Fatalf("state at %d: %v, want ErrStateUnavailable", n, err)
		}
		if s.c.HeaderByNumber(n) == nil {
			t.Fatalf("header %d gone with its state", n)
		}
	}
	// The pool reads the head state.
	if got := s.pendingNonce(addr(key(1))); got != blocks {
		t.Fatalf("pending nonce %d", got)
	}
	s.send(s.transfer(key(1), blocks, addr(key(2)), big.NewInt(1)))
	if got := s.pendingNonce(addr(key(1))); got != blocks+1 {
		t.Fatalf("pending nonce after send %d", got)
	}
}

// A database whose state an older build wrote in the hash scheme is
// refused with a clear error, not misread.
func TestHashSchemeRefused(t *testing.T) {
	db := rawdb.NewMemoryDatabase()
	tdb := triedb.NewDatabase(db, triedb.HashDefaults)
	if _, err := testConfig(1).genesis().Commit(db, tdb, nil); err != nil {
		t.Fatal(err)
	}
	if err := tdb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(db, testConfig(1), nil, quietLog()); !errors.Is(err, ErrStateScheme) {
		t.Fatalf("open a hash-scheme database: %v", err)
	}
}

// Blocks too small to fill the write buffer still reach the disk every
// maxUnwrittenBlocks, so a crash never re-executes more than that.
func TestSmallBlocksWrittenPeriodically(t *testing.T) {
	defer func(n uint64) { maxUnwrittenBlocks = n }(maxUnwrittenBlocks)
	maxUnwrittenBlocks = 50
	db := rawdb.NewMemoryDatabase()
	c, err := New(db, bufferConfig(maxWriteBuffer), nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, c: c}
	in := workload(s, 120)
	for n := 1; n <= 120; n++ {
		if _, err := c.Execute(in[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.tdb.Close(); err != nil { // waits for background writes
		t.Fatal(err)
	}
	// Crash: reopen without Close.
	c, err = New(db, bufferConfig(maxWriteBuffer), nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Height() != 100 {
		t.Fatalf("resumed at %d, want 100 (the last multiple of 50)", c.Height())
	}
}
