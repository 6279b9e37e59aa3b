package chain

import "github.com/ethereum/go-ethereum/core/types"

// Event announces one committed block with its receipts and logs. Receipts
// and logs carry all derived fields (block hash and number, indices, contract
// address, effective gas price).
type Event struct {
	Block    *types.Block
	Receipts types.Receipts
	Logs     []*types.Log
}
