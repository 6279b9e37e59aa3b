package chain

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sync"

	"github.com/cocoledger/coco/core/node"
	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/holiman/uint256"
)

var (
	// ErrOutOfOrder means Execute was given a block that does not follow the head.
	ErrOutOfOrder = errors.New("block does not follow the chain head")
	// ErrDiverged means a block already applied is replayed with another hash.
	ErrDiverged = errors.New("replayed block differs from the applied one")
	// ErrGenesisTxs means block 0 carried transactions: block 0 is the
	// Ethereum genesis and cannot execute any.
	ErrGenesisTxs = errors.New("block 0 is the genesis and cannot carry transactions")
)

var _ node.App = (*Chain)(nil)

// Namespace returns "eth".
func (c *Chain) Namespace() string { return Namespace }

// Height is the number of the head block. Right after New that is the last
// block whose state is durable (flushed), which is what the node replays
// from on start; the blocks executed but not flushed before a crash are
// executed again. Afterwards it is the latest executed block, flushed or not:
// the node reads Height only at start-up.
func (c *Chain) Height() uint64 { return c.head.Load().Number.Uint64() }

// Root is the state root of the head block (see Height).
func (c *Chain) Root() coretypes.Hash { return coretypes.Hash(c.head.Load().Root) }

// executed is one transaction that made it into the block.
type executed struct {
	tx   *types.Transaction
	from common.Address
}

// excluded is one transaction left out of the block.
type excluded struct {
	hash  common.Hash
	from  common.Address
	nonce uint64
	known bool // sender and nonce are meaningful
}

// Execute applies a decided block as the next Ethereum block and returns its
// state root. Transactions that cannot apply (undecodable, wrong nonce,
// insufficient funds, blob type, block gas exhausted) are left out of the
// block. A block at or below the head is a replay: nothing is executed and
// the stored root is returned. A block stored before a crash but above the
// flushed state is executed again and its records rewritten.
func (c *Chain) Execute(b *node.ExecBlock) (coretypes.Hash, error) {
	c.execMu.Lock()
	defer c.execMu.Unlock()

	if c.closed {
		return coretypes.Hash{}, ErrClosed
	}
	parent := c.head.Load()
	height := parent.Number.Uint64()
	if b.Number <= height {
		return c.appliedRoot(b)
	}
	if b.Number != height+1 {
		return coretypes.Hash{}, fmt.Errorf("%w: block %d, head %d", ErrOutOfOrder, b.Number, height)
	}
	var prior *types.Header // this block as executed before a crash
	if b.Number <= c.replayTo {
		if prior = c.storedHeader(b.Number); prior != nil && prior.MixDigest != common.Hash(b.Hash) {
			return coretypes.Hash{}, fmt.Errorf("%w: block %d applied from %v before the restart, replayed from %v", ErrDiverged, b.Number, prior.MixDigest, common.Hash(b.Hash))
		}
	}
	ctx := context.Background()
	header := &types.Header{
		ParentHash:       parent.Hash(),
		Coinbase:         c.cfg.Coinbase,
		Difficulty:       new(big.Int),
		Number:           new(big.Int).SetUint64(b.Number),
		GasLimit:         c.gasLimitFor(b),
		Time:             b.TimeMs / 1000,
		MixDigest:        common.Hash(b.Hash),
		BaseFee:          new(big.Int).Set(c.cfg.BaseFee),
		WithdrawalsHash:  &types.EmptyWithdrawalsHash,
		BlobGasUsed:      new(uint64),
		ParentBeaconRoot: new(common.Hash),
	}
	excess := eip4844.CalcExcessBlobGas(c.config, parent, header.Time)
	header.ExcessBlobGas = &excess

	statedb, err := state.New(parent.Root, c.sdb)
	if err != nil {
		return coretypes.Hash{}, fmt.Errorf("open state of block %d: %w", height, err)
	}
	evm := vm.NewEVM(c.blockContext(header), statedb, c.config, vm.Config{})
	defer evm.Release()

	// The system calls of a post-Prague block, as go-ethereum's miner runs
	// them: EIP-4788 (zero beacon root) and EIP-2935 before the transactions.
	core.PreExecution(ctx, header.ParentBeaconRoot, parent, c.config, evm, header.Number, header.Time)

	var (
		gp       = core.NewGasPool(header.GasLimit)
		included = make([]executed, 0, len(b.Txs))
		txs      = make([]*types.Transaction, 0, len(b.Txs))
		receipts = make(types.Receipts, 0, len(b.Txs))
		dropped  []excluded
		allLogs  []*types.Log
	)
	decoded := c.decodeAll(b.Txs)
	for i := range b.Txs {
		tx, from, err := decoded[i].tx, decoded[i].from, decoded[i].err
		if err != nil {
			ex := excluded{known: tx != nil && from != (common.Address{})}
			if tx != nil {
				ex.hash, ex.from, ex.nonce = tx.Hash(), from, tx.Nonce()
			}
			dropped = append(dropped, ex)
			c.log.Debug("transaction excluded", "block", b.Number, "pos", i, "tx", ex.hash, "err", err)
			continue
		}
		msg, err := toMessage(tx, from, header.BaseFee)
		if err == nil {
			snap, gpSnap := statedb.Snapshot(), gp.Snapshot()
			statedb.SetTxContext(tx.Hash(), len(txs), uint32(len(txs)+1))
			var receipt *types.Receipt
			receipt, _, err = core.ApplyTransactionWithEVM(ctx, msg, gp, statedb, header.Number, common.Hash{}, header.Time, tx, evm)
			if err == nil {
				receipt.EffectiveGasPrice = msg.GasPrice.ToBig()
				txs = append(txs, tx)
				receipts = append(receipts, receipt)
				included = append(included, executed{tx: tx, from: from})
				allLogs = append(allLogs, receipt.Logs...)
				continue
			}
			statedb.RevertToSnapshot(snap)
			gp.Set(gpSnap)
		}
		dropped = append(dropped, excluded{hash: tx.Hash(), from: from, nonce: tx.Nonce(), known: true})
		c.log.Debug("transaction excluded", "block", b.Number, "pos", i, "tx", tx.Hash(), "from", from, "nonce", tx.Nonce(), "err", err)
	}
	// EIP-6110/7002/7251 requests, as go-ethereum computes them after the
	// transactions.
	requests, _, err := core.PostExecution(ctx, c.config, header.Number, header.Time, allLogs, nil, evm, uint32(len(txs)+1))
	if err != nil {
		return coretypes.Hash{}, fmt.Errorf("block %d system calls: %w", b.Number, err)
	}
	if requests != nil {
		reqHash := types.CalcRequestsHash(requests)
		header.RequestsHash = &reqHash
	}
	header.GasUsed = gp.Used()
	if err := statedb.Error(); err != nil {
		return coretypes.Hash{}, fmt.Errorf("block %d state: %w", b.Number, err)
	}
	// The pool wants the senders' nonces after the block; read them before
	// Commit makes the statedb unusable.
	nonces := make(map[common.Address]uint64, len(included)+len(dropped))
	for _, e := range included {
		nonces[e.from] = statedb.GetNonce(e.from)
	}
	for _, e := range dropped {
		if e.known {
			nonces[e.from] = statedb.GetNonce(e.from)
		}
	}

	rules := c.config.Rules(header.Number, true, header.Time)
	root, err := statedb.Commit(rules, b.Number)
	if err != nil {
		return coretypes.Hash{}, fmt.Errorf("block %d commit state: %w", b.Number, err)
	}
	header.Root = root
	block := types.NewBlock(header, &types.Body{Transactions: txs, Withdrawals: []*types.Withdrawal{}}, receipts, trie.NewStackTrie(nil))
	hash := block.Hash()
	// Receipts and logs were made before the header was final.
	for _, r := range receipts {
		r.BlockHash = hash
		if r.Logs == nil {
			r.Logs = []*types.Log{} // as read back from the database
		}
		for _, l := range r.Logs {
			l.BlockHash = hash
		}
	}
	if prior != nil && prior.Hash() != hash {
		// Same inputs, another block: execution is not deterministic, or
		// the configuration changed. The new block is the one consistent
		// with the state; clients that saw the old one see a reorg.
		c.log.Error("block executed again differs from the one stored before the restart",
			"number", b.Number, "stored", prior.Hash(), "executed", hash)
	}
	// The block and the head marker in one batch, not synced: a crash
	// loses at most blocks the ledger replays.
	batch := c.db.NewBatch()
	rawdb.WriteBlock(batch, block)
	rawdb.WriteReceipts(batch, hash, b.Number, receipts)
	rawdb.WriteTxLookupEntriesByBlock(batch, block)
	rawdb.WriteCanonicalHash(batch, hash, b.Number)
	rawdb.WriteHeadHeaderHash(batch, hash)
	rawdb.WriteHeadFastBlockHash(batch, hash)
	rawdb.WriteHeadBlockHash(batch, hash)
	if err := batch.Write(); err != nil {
		return coretypes.Hash{}, fmt.Errorf("block %d write: %w", b.Number, err)
	}
	c.head.Store(block.Header())
	if b.Number-c.written >= maxUnwrittenBlocks {
		// Blocks too small to fill the write buffer would otherwise pile
		// up for a crash to execute again. The write itself is in the
		// background.
		if err := c.tdb.Commit(root, false); err != nil {
			return coretypes.Hash{}, fmt.Errorf("block %d write state: %w", b.Number, err)
		}
		c.written = b.Number
	}
	diffs, buffered, _ := c.tdb.Size()
	memoryBytes.Set(float64(diffs + buffered))

	view, err := c.newView(block.Header())
	if err != nil {
		return coretypes.Hash{}, fmt.Errorf("block %d reopen state: %w", b.Number, err)
	}
	c.pool.onBlock(view, included, dropped, nonces)

	if len(dropped) > 0 {
		c.log.Debug("block executed", "number", b.Number, "hash", hash, "txs", len(txs), "excluded", len(dropped))
	}
	txsIncluded.Add(float64(len(txs)))
	txsExcluded.Add(float64(len(dropped)))
	c.chainFeed.Send(Event{Block: block, Receipts: receipts, Logs: allLogs})
	return coretypes.Hash(root), nil
}

// appliedRoot answers a replay of a block at or below the head.
func (c *Chain) appliedRoot(b *node.ExecBlock) (coretypes.Hash, error) {
	if b.Number == 0 && len(b.Txs) > 0 {
		return coretypes.Hash{}, ErrGenesisTxs
	}
	header := c.HeaderByNumber(b.Number)
	if header == nil {
		return coretypes.Hash{}, fmt.Errorf("%w: block %d below head not found", ErrCorrupt, b.Number)
	}
	if b.Number > 0 && header.MixDigest != common.Hash(b.Hash) {
		return coretypes.Hash{}, fmt.Errorf("%w: block %d applied from %v, replayed from %v", ErrDiverged, b.Number, header.MixDigest, common.Hash(b.Hash))
	}
	return coretypes.Hash(header.Root), nil
}

type decodedTx struct {
	tx   *types.Transaction
	from common.Address
	err  error
}

// decodeAll decodes a block's transactions, on all cores when senders must
// be recovered from signatures (the bft trust model): recovery costs ~40 µs
// each and does not depend on execution order.
func (c *Chain) decodeAll(txs []coretypes.Tx) []decodedTx {
	out := make([]decodedTx, len(txs))
	work := func(i int) { out[i].tx, out[i].from, out[i].err = c.decode(&txs[i]) }
	recover := 0
	for i := range txs {
		if len(txs[i].Sender) == 0 {
			recover++
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if recover < 32 || workers == 1 {
		for i := range txs {
			work(i)
		}
		return out
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(txs); i += workers {
				work(i)
			}
		})
	}
	wg.Wait()
	return out
}

// errExcluded marks a transaction the block leaves out before execution.
var errExcluded = errors.New("transaction excluded")

// decode parses one ordered transaction and returns it with its sender. It
// trusts the sender the ingress verified and recovers the signature only
// when none was given.
func (c *Chain) decode(t *coretypes.Tx) (*types.Transaction, common.Address, error) {
	if t.Namespace != Namespace {
		return nil, common.Address{}, fmt.Errorf("%w: namespace %q", errExcluded, t.Namespace)
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(t.Payload); err != nil {
		return nil, common.Address{}, fmt.Errorf("%w: decode: %v", errExcluded, err)
	}
	var from common.Address
	switch len(t.Sender) {
	case common.AddressLength:
		from = common.BytesToAddress(t.Sender)
	case 0:
		var err error
		if from, err = types.Sender(c.signer, tx); err != nil {
			return tx, common.Address{}, fmt.Errorf("%w: sender: %v", errExcluded, err)
		}
	default:
		return tx, common.Address{}, fmt.Errorf("%w: sender of %d bytes", errExcluded, len(t.Sender))
	}
	if tx.Type() == types.BlobTxType {
		return tx, from, fmt.Errorf("%w: %w", errExcluded, errBlobTx)
	}
	if tx.Protected() && tx.ChainId().Cmp(c.config.ChainID) != 0 {
		return tx, from, fmt.Errorf("%w: %w: have %v want %v", errExcluded, types.ErrInvalidChainId, tx.ChainId(), c.config.ChainID)
	}
	return tx, from, nil
}

// toMessage is core.TransactionToMessage with the sender given instead of
// recovered.
func toMessage(tx *types.Transaction, from common.Address, baseFee *big.Int) (*core.Message, error) {
	gasPrice, overflow := uint256.FromBig(tx.GasPrice())
	if overflow {
		return nil, fmt.Errorf("%w: address %v, maxFeePerGas bit length: %d", core.ErrFeeCapVeryHigh, from.Hex(), tx.GasPrice().BitLen())
	}
	gasFeeCap, overflow := uint256.FromBig(tx.GasFeeCap())
	if overflow {
		return nil, fmt.Errorf("%w: address %v, maxFeePerGas bit length: %d", core.ErrFeeCapVeryHigh, from.Hex(), tx.GasFeeCap().BitLen())
	}
	gasTipCap, overflow := uint256.FromBig(tx.GasTipCap())
	if overflow {
		return nil, fmt.Errorf("%w: address %v, maxPriorityFeePerGas bit length: %d", core.ErrTipVeryHigh, from.Hex(), tx.GasTipCap().BitLen())
	}
	value, overflow := uint256.FromBig(tx.Value())
	if overflow {
		return nil, fmt.Errorf("value exceeds 256 bits: address %v", from.Hex())
	}
	blobGasFeeCap, overflow := uint256.FromBig(tx.BlobGasFeeCap())
	if overflow {
		return nil, fmt.Errorf("blobGasFeeCap exceeds 256 bits: address %v", from.Hex())
	}
	msg := &core.Message{
		From:                  from,
		Nonce:                 tx.Nonce(),
		GasLimit:              tx.Gas(),
		GasPrice:              gasPrice,
		GasFeeCap:             gasFeeCap,
		GasTipCap:             gasTipCap,
		To:                    tx.To(),
		Value:                 value,
		Data:                  tx.Data(),
		AccessList:            tx.AccessList(),
		SetCodeAuthorizations: tx.SetCodeAuthorizations(),
		BlobHashes:            tx.BlobHashes(),
		BlobGasFeeCap:         blobGasFeeCap,
	}
	if baseFee != nil {
		effective := new(big.Int).Add(baseFee, tx.GasTipCap())
		if effective.Cmp(tx.GasFeeCap()) > 0 {
			effective = tx.GasFeeCap()
		}
		msg.GasPrice = uint256.MustFromBig(effective)
	}
	return msg, nil
}

// gasLimitFor is the block gas limit: governance's network parameter when
// set, else the genesis value. The pool admits against the latest one.
func (c *Chain) gasLimitFor(b *node.ExecBlock) uint64 {
	limit := c.cfg.GasLimit
	if b.Params.BlockGasLimit != 0 {
		limit = b.Params.BlockGasLimit
	}
	c.gasLimit.Store(limit)
	return limit
}
