package node

import (
	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/types"
)

// App executes the transactions of one namespace. Adapters implement it; the
// node calls it for every decided block, in order, on every replica.
type App interface {
	// Namespace is the namespace whose transactions the app executes.
	Namespace() string
	// Height is the number of the last block whose effects the app has
	// applied durably. On start the node replays the ledger from Height()+1.
	Height() uint64
	// Root is the app's state root after block Height(); consensus puts the
	// roots of the previous block in every header.
	Root() types.Hash
	// Execute applies the block's transactions of this namespace in ledger
	// order and returns the app's state root after the block. Given the same
	// blocks it must produce the same roots on every replica. An error stops
	// the node: it means the app cannot make progress, not that a
	// transaction failed (failed transactions are recorded by the app).
	Execute(b *ExecBlock) (types.Hash, error)
}

// ExecBlock is what an App sees of a decided block.
type ExecBlock struct {
	Number uint64
	TimeMs uint64
	Hash   types.Hash // core block hash
	// Recovery marks a recovery block (types.Header.Recovery).
	Recovery bool
	// Params are the network parameters in force for this block (after
	// the block's own governance changes: governance executes first).
	Params gov.Params
	// Txs are this namespace's transactions in ledger order. Sender was
	// checked by an ingress enclave (see types.Tx).
	Txs []types.Tx
}

// Submitter accepts a checked transaction into the node's mempool. Adapters'
// ingress calls it after their protocol checks.
type Submitter interface {
	Submit(tx types.Tx) error
}

// govApp runs governance as the node's first application.
type govApp struct{ *gov.Gov }

func (govApp) Namespace() string { return types.GovNamespace }

func (a govApp) Execute(b *ExecBlock) (types.Hash, error) {
	return a.Gov.Execute(b.Number, b.Txs, b.Recovery)
}
