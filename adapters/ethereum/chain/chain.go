package chain

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cocoledger/coco/core/node"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/triedb"
	"github.com/ethereum/go-ethereum/triedb/pathdb"
)

// Namespace is the Coco namespace of Ethereum transactions.
const Namespace = "eth"

var (
	// ErrChainIDMismatch means the database holds a chain with another id.
	ErrChainIDMismatch = errors.New("stored chain has a different chain id")
	// ErrCorrupt means the stored chain cannot be read back.
	ErrCorrupt = errors.New("ethereum chain database is corrupt")
	// ErrUnknownBlock means the requested block is not stored.
	ErrUnknownBlock = errors.New("unknown block")
	// ErrClosed means the chain was closed.
	ErrClosed = errors.New("ethereum chain closed")
)

// Chain is the Ethereum application of a Coco node. It implements node.App
// and the jsonrpc Backend. Reads are safe from any goroutine; Execute is
// called by the node, one block at a time.
type Chain struct {
	cfg    Config
	config *params.ChainConfig
	signer types.Signer
	db     ethdb.Database
	tdb    *triedb.Database
	sdb    state.Database
	submit node.Submitter
	log    *slog.Logger

	execMu sync.Mutex // one Execute at a time
	// gasLimit is the block gas limit in force (genesis or governance).
	gasLimit atomic.Uint64
	// head is the latest executed block; JSON-RPC reads and the pool see
	// it. Right after New it is the newest block whose state is stored.
	head atomic.Pointer[types.Header]

	// Guarded by execMu.
	replayTo uint64 // blocks up to here were stored before the restart
	written  uint64 // block whose state was last forced to disk, or the head at open
	closed   bool

	pool *pool
	// receipts holds recent blocks' receipts with their derived fields:
	// clients fetch a block's receipts one transaction at a time, and each
	// read decodes the whole block's.
	receipts *lru.Cache[common.Hash, types.Receipts]

	chainFeed   event.Feed
	pendingFeed event.Feed
}

// New opens the chain stored in db, writing the genesis block first if db is
// empty. submit receives the transactions accepted by SendTransaction; it may
// be nil for a chain that only executes.
func New(db ethdb.Database, cfg Config, submit node.Submitter, log *slog.Logger) (*Chain, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if err := checkScheme(db); err != nil {
		return nil, err
	}
	tdb := triedb.NewDatabase(db, &triedb.Config{PathDB: &pathdb.Config{
		TrieCleanSize:   cfg.TrieCacheBytes,
		StateCleanSize:  cfg.StateCacheBytes,
		WriteBufferSize: cfg.WriteBufferBytes,
		TrienodeHistory: -1,
	}})
	c := &Chain{
		cfg:      cfg,
		db:       db,
		tdb:      tdb,
		sdb:      state.NewDatabase(tdb, state.NewCodeDB(db)),
		submit:   submit,
		log:      log.With("ns", Namespace),
		receipts: lru.NewCache[common.Hash, types.Receipts](receiptBlocks),
	}
	var head *types.Header
	if ghash := rawdb.ReadCanonicalHash(db, 0); ghash == (common.Hash{}) {
		g := cfg.genesis()
		block, err := g.Commit(db, tdb, nil)
		if err != nil {
			tdb.Close()
			return nil, fmt.Errorf("write genesis: %w", err)
		}
		c.config = g.Config
		head = block.Header()
		c.log.Info("wrote genesis", "hash", block.Hash(), "chain_id", cfg.ChainID)
	} else {
		stored := rawdb.ReadChainConfig(db, ghash)
		if stored == nil || stored.ChainID == nil {
			tdb.Close()
			return nil, fmt.Errorf("%w: no chain config for genesis %v", ErrCorrupt, ghash)
		}
		if stored.ChainID.Cmp(new(big.Int).SetUint64(cfg.ChainID)) != 0 {
			tdb.Close()
			return nil, fmt.Errorf("%w: stored %v, configured %d", ErrChainIDMismatch, stored.ChainID, cfg.ChainID)
		}
		c.config = stored
		head = rawdb.ReadHeadHeader(db)
		if head == nil {
			tdb.Close()
			return nil, fmt.Errorf("%w: no head header", ErrCorrupt)
		}
		var err error
		if head, err = c.resume(head); err != nil {
			tdb.Close()
			return nil, err
		}
		c.log.Info("resumed chain", "number", head.Number, "hash", head.Hash())
	}
	c.signer = types.LatestSigner(c.config)
	c.head.Store(head)
	c.written = head.Number.Uint64()
	c.gasLimit.Store(head.GasLimit)
	if head.GasLimit == 0 {
		c.gasLimit.Store(cfg.GasLimit)
	}
	view, err := c.newView(head)
	if err != nil {
		tdb.Close()
		return nil, fmt.Errorf("%w: head state: %w", ErrCorrupt, err)
	}
	c.pool = newPool(c, view)
	return c, nil
}

// Close writes the state kept in memory to disk, waits for background
// submissions and releases the trie cache; Execute fails afterwards. The
// database itself belongs to the caller: close it after the chain. A chain
// dropped without Close loses only the state executed since the last flush,
// which the node executes again from its ledger.
func (c *Chain) Close() error {
	c.execMu.Lock()
	var err error
	if !c.closed {
		c.closed = true
		err = c.closeLocked()
	}
	c.execMu.Unlock()
	c.pool.wait()
	return errors.Join(err, c.tdb.Close())
}

// Config returns the configuration the chain runs with.
func (c *Chain) Config() Config { return c.cfg }

// ChainConfig returns the go-ethereum chain configuration.
func (c *Chain) ChainConfig() *params.ChainConfig { return c.config }

// CurrentHeader is the latest executed block's header, flushed or not.
func (c *Chain) CurrentHeader() *types.Header { return c.head.Load() }

// HeaderByNumber returns the canonical header at number, nil when unknown.
func (c *Chain) HeaderByNumber(number uint64) *types.Header {
	if number > c.head.Load().Number.Uint64() {
		return nil
	}
	hash := rawdb.ReadCanonicalHash(c.db, number)
	if hash == (common.Hash{}) {
		return nil
	}
	return rawdb.ReadHeader(c.db, hash, number)
}

// HeaderByHash returns the header with the given hash, nil when unknown.
func (c *Chain) HeaderByHash(hash common.Hash) *types.Header {
	number, ok := rawdb.ReadHeaderNumber(c.db, hash)
	if !ok {
		return nil
	}
	return rawdb.ReadHeader(c.db, hash, number)
}

// BlockByNumber returns the canonical block at number, nil when unknown.
func (c *Chain) BlockByNumber(number uint64) *types.Block {
	if number > c.head.Load().Number.Uint64() {
		return nil
	}
	hash := rawdb.ReadCanonicalHash(c.db, number)
	if hash == (common.Hash{}) {
		return nil
	}
	return rawdb.ReadBlock(c.db, hash, number)
}

// BlockByHash returns the block with the given hash, nil when unknown.
func (c *Chain) BlockByHash(hash common.Hash) *types.Block {
	number, ok := rawdb.ReadHeaderNumber(c.db, hash)
	if !ok {
		return nil
	}
	return rawdb.ReadBlock(c.db, hash, number)
}

// receiptBlocks is how many blocks' receipts are kept decoded, as
// go-ethereum's own chain does.
const receiptBlocks = 32

// Receipts returns a committed block's receipts with every derived field
// set, nil when the block is unknown. Callers must not modify them.
func (c *Chain) Receipts(blockHash common.Hash) types.Receipts {
	if r, ok := c.receipts.Get(blockHash); ok {
		return r
	}
	number, ok := rawdb.ReadHeaderNumber(c.db, blockHash)
	if !ok {
		return nil
	}
	header := rawdb.ReadHeader(c.db, blockHash, number)
	if header == nil {
		return nil
	}
	r := rawdb.ReadReceipts(c.db, blockHash, number, header.Time, c.config)
	if r != nil {
		c.receipts.Add(blockHash, r)
	}
	return r
}

// Transaction finds a committed transaction; tx is nil when unknown.
func (c *Chain) Transaction(hash common.Hash) (tx *types.Transaction, blockHash common.Hash, blockNumber, index uint64) {
	tx, blockHash, blockNumber, index = rawdb.ReadCanonicalTransaction(c.db, hash)
	if tx == nil || blockNumber > c.head.Load().Number.Uint64() {
		return nil, common.Hash{}, 0, 0
	}
	return tx, blockHash, blockNumber, index
}

// StateAt opens the state after the given block. Changes to it are never
// persisted. Only the state of the latest blocks is kept; older ones fail
// with ErrStateUnavailable, as on a go-ethereum full node.
func (c *Chain) StateAt(number uint64) (*state.StateDB, error) {
	header := c.HeaderByNumber(number)
	if header == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownBlock, number)
	}
	st, err := state.New(header.Root, c.sdb)
	if err != nil {
		return nil, fmt.Errorf("%w: block %d is older than the %d recent blocks whose state is kept: %w",
			ErrStateUnavailable, number, recentStates, err)
	}
	return st, nil
}

// BlockContext builds the EVM block context for executing on top of parent
// as the next block would: number+1 and a timestamp no earlier than now, so
// that a gas estimate stays valid when the transaction lands.
func (c *Chain) BlockContext(parent *types.Header) vm.BlockContext {
	next := &types.Header{
		ParentHash:    parent.Hash(),
		Number:        new(big.Int).Add(parent.Number, common.Big1),
		Time:          max(parent.Time, uint64(time.Now().Unix())),
		MixDigest:     parent.MixDigest,
		ExcessBlobGas: new(uint64),
	}
	return c.blockContext(next)
}

// blockContext is the EVM context of the block with header h, whose parents
// are all canonical.
func (c *Chain) blockContext(h *types.Header) vm.BlockContext {
	number := h.Number.Uint64()
	random := h.MixDigest // non-nil random marks the block as post-merge
	return vm.BlockContext{
		CanTransfer: core.CanTransfer,
		Transfer:    core.Transfer,
		GetHash: func(n uint64) common.Hash {
			if n >= number {
				return common.Hash{}
			}
			return rawdb.ReadCanonicalHash(c.db, n)
		},
		Coinbase:         c.cfg.Coinbase,
		BlockNumber:      new(big.Int).SetUint64(number),
		Time:             h.Time,
		Difficulty:       new(big.Int),
		BaseFee:          new(big.Int).Set(c.cfg.BaseFee),
		BlobBaseFee:      eip4844.CalcBlobFee(c.config, h),
		GasLimit:         c.GasLimit(),
		Random:           &random,
		CostPerStateByte: params.CostPerStateByte,
	}
}

// SubscribeChainEvent delivers one Event per committed block, in order.
// Execute waits for every subscriber to take the event: subscribers must
// keep up or buffer.
func (c *Chain) SubscribeChainEvent(ch chan<- Event) event.Subscription {
	return c.chainFeed.Subscribe(ch)
}

// SubscribePendingTxs delivers transactions as they are submitted.
func (c *Chain) SubscribePendingTxs(ch chan<- []*types.Transaction) event.Subscription {
	return c.pendingFeed.Subscribe(ch)
}

// GasLimit is the block gas limit in force.
func (c *Chain) GasLimit() uint64 { return c.gasLimit.Load() }
