package jsonrpc

import (
	"context"

	"github.com/cocoledger/coco/adapters/ethereum/chain"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"
)

// Backend is what the JSON-RPC API needs of the Ethereum chain. *chain.Chain
// implements it.
type Backend interface {
	ChainConfig() *params.ChainConfig

	// CurrentHeader is the latest committed block's header.
	CurrentHeader() *types.Header
	// HeaderByNumber and the other lookups return nil when the block is unknown.
	HeaderByNumber(number uint64) *types.Header
	HeaderByHash(hash common.Hash) *types.Header
	BlockByNumber(number uint64) *types.Block
	BlockByHash(hash common.Hash) *types.Block
	// Receipts returns a committed block's receipts with every derived field set.
	Receipts(blockHash common.Hash) types.Receipts
	// Transaction finds a committed transaction; tx is nil when unknown.
	Transaction(hash common.Hash) (tx *types.Transaction, blockHash common.Hash, blockNumber, index uint64)

	// StateAt opens the state after the given block, for reads and simulations
	// (changes to it are never persisted).
	StateAt(number uint64) (*state.StateDB, error)
	// BlockContext builds the EVM block context for executing on top of parent
	// as the next block would (number+1, a later timestamp).
	BlockContext(parent *types.Header) vm.BlockContext

	// SendTransaction runs the ingress checks (chain id, signature, nonce,
	// balance, gas, size) and submits tx; errors carry go-ethereum's messages.
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	// PendingNonce is the next nonce for addr counting submitted, uncommitted transactions.
	PendingNonce(addr common.Address) (uint64, error)
	// PendingTransaction finds a submitted, uncommitted transaction; nil when unknown.
	PendingTransaction(hash common.Hash) *types.Transaction

	// SubscribeChainEvent delivers one Event per committed block, in order.
	SubscribeChainEvent(ch chan<- chain.Event) event.Subscription
	// SubscribePendingTxs delivers transactions as they are accepted.
	SubscribePendingTxs(ch chan<- []*types.Transaction) event.Subscription
}
