package jsonrpc

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

// The shapes below are go-ethereum's (internal/ethapi RPCMarshalHeader,
// RPCMarshalBlock, RPCTransaction, MarshalReceipt), copied because that
// package cannot be imported.

// senderCacheSize bounds the remembered transaction senders.
const senderCacheSize = 1 << 16

// marshaller turns chain objects into their JSON-RPC shapes. It remembers
// transaction senders: recovering one costs an ECDSA recovery, which
// dominated serving a block with full transactions.
type marshaller struct {
	config  *params.ChainConfig
	senders *lru.Cache[common.Hash, common.Address]
}

func newMarshaller(config *params.ChainConfig) *marshaller {
	return &marshaller{config: config, senders: lru.NewCache[common.Hash, common.Address](senderCacheSize)}
}

// sender recovers tx's sender; the zero address when the signature is
// invalid, as go-ethereum shows it.
func (m *marshaller) sender(signer types.Signer, tx *types.Transaction) common.Address {
	hash := tx.Hash()
	if from, ok := m.senders.Get(hash); ok {
		return from
	}
	from, err := types.Sender(signer, tx)
	if err != nil {
		return common.Address{}
	}
	m.senders.Add(hash, from)
	return from
}

func marshalHeader(head *types.Header) map[string]any {
	result := map[string]any{
		"number":           (*hexutil.Big)(head.Number),
		"hash":             head.Hash(),
		"parentHash":       head.ParentHash,
		"nonce":            head.Nonce,
		"mixHash":          head.MixDigest,
		"sha3Uncles":       head.UncleHash,
		"logsBloom":        head.Bloom,
		"stateRoot":        head.Root,
		"miner":            head.Coinbase,
		"difficulty":       (*hexutil.Big)(head.Difficulty),
		"extraData":        hexutil.Bytes(head.Extra),
		"gasLimit":         hexutil.Uint64(head.GasLimit),
		"gasUsed":          hexutil.Uint64(head.GasUsed),
		"timestamp":        hexutil.Uint64(head.Time),
		"transactionsRoot": head.TxHash,
		"receiptsRoot":     head.ReceiptHash,
	}
	if head.BaseFee != nil {
		result["baseFeePerGas"] = (*hexutil.Big)(head.BaseFee)
	}
	if head.WithdrawalsHash != nil {
		result["withdrawalsRoot"] = head.WithdrawalsHash
	}
	if head.BlobGasUsed != nil {
		result["blobGasUsed"] = hexutil.Uint64(*head.BlobGasUsed)
	}
	if head.ExcessBlobGas != nil {
		result["excessBlobGas"] = hexutil.Uint64(*head.ExcessBlobGas)
	}
	if head.ParentBeaconRoot != nil {
		result["parentBeaconBlockRoot"] = head.ParentBeaconRoot
	}
	if head.RequestsHash != nil {
		result["requestsHash"] = head.RequestsHash
	}
	if head.BlockAccessListHash != nil {
		result["blockAccessListHash"] = head.BlockAccessListHash
	}
	if head.SlotNumber != nil {
		result["slotNumber"] = hexutil.Uint64(*head.SlotNumber)
	}
	return result
}

func (m *marshaller) block(block *types.Block, fullTx bool) map[string]any {
	fields := marshalHeader(block.Header())
	fields["size"] = hexutil.Uint64(block.Size())

	txs := block.Transactions()
	transactions := make([]any, len(txs))
	for i, tx := range txs {
		if fullTx {
			transactions[i] = m.txFromBlock(block, uint64(i))
		} else {
			transactions[i] = tx.Hash()
		}
	}
	fields["transactions"] = transactions

	uncles := block.Uncles()
	uncleHashes := make([]common.Hash, len(uncles))
	for i, uncle := range uncles {
		uncleHashes[i] = uncle.Hash()
	}
	fields["uncles"] = uncleHashes
	switch {
	case block.Withdrawals() != nil:
		fields["withdrawals"] = block.Withdrawals()
	case block.Header().WithdrawalsHash != nil:
		// A post-Shanghai block always has a (here empty) withdrawals list.
		fields["withdrawals"] = types.Withdrawals{}
	}
	return fields
}

// rpcTransaction is go-ethereum's RPCTransaction.
type rpcTransaction struct {
	BlockHash           *common.Hash                 `json:"blockHash"`
	BlockNumber         *hexutil.Big                 `json:"blockNumber"`
	BlockTimestamp      *hexutil.Uint64              `json:"blockTimestamp"`
	From                common.Address               `json:"from"`
	Gas                 hexutil.Uint64               `json:"gas"`
	GasPrice            *hexutil.Big                 `json:"gasPrice"`
	GasFeeCap           *hexutil.Big                 `json:"maxFeePerGas,omitempty"`
	GasTipCap           *hexutil.Big                 `json:"maxPriorityFeePerGas,omitempty"`
	MaxFeePerBlobGas    *hexutil.Big                 `json:"maxFeePerBlobGas,omitempty"`
	Hash                common.Hash                  `json:"hash"`
	Input               hexutil.Bytes                `json:"input"`
	Nonce               hexutil.Uint64               `json:"nonce"`
	To                  *common.Address              `json:"to"`
	TransactionIndex    *hexutil.Uint64              `json:"transactionIndex"`
	Value               *hexutil.Big                 `json:"value"`
	Type                hexutil.Uint64               `json:"type"`
	Accesses            *types.AccessList            `json:"accessList,omitempty"`
	ChainID             *hexutil.Big                 `json:"chainId,omitempty"`
	BlobVersionedHashes []common.Hash                `json:"blobVersionedHashes,omitempty"`
	AuthorizationList   []types.SetCodeAuthorization `json:"authorizationList,omitempty"`
	V                   *hexutil.Big                 `json:"v"`
	R                   *hexutil.Big                 `json:"r"`
	S                   *hexutil.Big                 `json:"s"`
	YParity             *hexutil.Uint64              `json:"yParity,omitempty"`
}

func (m *marshaller) tx(tx *types.Transaction, blockHash common.Hash, blockNumber uint64, blockTime uint64, index uint64, baseFee *big.Int) *rpcTransaction {
	signer := types.MakeSigner(m.config, new(big.Int).SetUint64(blockNumber), blockTime)
	from := m.sender(signer, tx)
	v, r, s := tx.RawSignatureValues()
	result := &rpcTransaction{
		Type:     hexutil.Uint64(tx.Type()),
		From:     from,
		Gas:      hexutil.Uint64(tx.Gas()),
		GasPrice: (*hexutil.Big)(tx.GasPrice()),
		Hash:     tx.Hash(),
		Input:    hexutil.Bytes(tx.Data()),
		Nonce:    hexutil.Uint64(tx.Nonce()),
		To:       tx.To(),
		Value:    (*hexutil.Big)(tx.Value()),
		V:        (*hexutil.Big)(v),
		R:        (*hexutil.Big)(r),
		S:        (*hexutil.Big)(s),
	}
	mined := blockHash != (common.Hash{})
	if mined {
		result.BlockHash = &blockHash
		result.BlockNumber = (*hexutil.Big)(new(big.Int).SetUint64(blockNumber))
		result.BlockTimestamp = (*hexutil.Uint64)(&blockTime)
		result.TransactionIndex = (*hexutil.Uint64)(&index)
	}
	if tx.Type() == types.LegacyTxType {
		// A legacy transaction with an EIP-155 chain id shows it.
		if id := tx.ChainId(); id.Sign() != 0 {
			result.ChainID = (*hexutil.Big)(id)
		}
		return result
	}
	al := tx.AccessList()
	yparity := hexutil.Uint64(v.Sign())
	result.Accesses = &al
	result.ChainID = (*hexutil.Big)(tx.ChainId())
	result.YParity = &yparity
	if tx.Type() == types.AccessListTxType {
		return result
	}
	result.GasFeeCap = (*hexutil.Big)(tx.GasFeeCap())
	result.GasTipCap = (*hexutil.Big)(tx.GasTipCap())
	if baseFee != nil && mined {
		result.GasPrice = (*hexutil.Big)(effectiveGasPrice(tx, baseFee))
	} else {
		result.GasPrice = (*hexutil.Big)(tx.GasFeeCap())
	}
	switch tx.Type() {
	case types.BlobTxType:
		result.MaxFeePerBlobGas = (*hexutil.Big)(tx.BlobGasFeeCap())
		result.BlobVersionedHashes = tx.BlobHashes()
	case types.SetCodeTxType:
		result.AuthorizationList = tx.SetCodeAuthorizations()
	}
	return result
}

// effectiveGasPrice is min(gasTipCap + baseFee, gasFeeCap).
func effectiveGasPrice(tx *types.Transaction, baseFee *big.Int) *big.Int {
	fee := tx.GasTipCap()
	fee = fee.Add(fee, baseFee)
	if tx.GasFeeCapIntCmp(fee) < 0 {
		return tx.GasFeeCap()
	}
	return fee
}

// pendingTx shows a submitted, uncommitted transaction: no block fields,
// and gasPrice is the fee cap.
func (m *marshaller) pendingTx(tx *types.Transaction, current *types.Header) *rpcTransaction {
	var number, time uint64
	if current != nil {
		number, time = current.Number.Uint64(), current.Time
	}
	return m.tx(tx, common.Hash{}, number, time, 0, nil)
}

func (m *marshaller) txFromBlock(b *types.Block, index uint64) *rpcTransaction {
	txs := b.Transactions()
	if index >= uint64(len(txs)) {
		return nil
	}
	return m.tx(txs[index], b.Hash(), b.NumberU64(), b.Time(), index, b.BaseFee())
}

func (m *marshaller) receipt(receipt *types.Receipt, blockHash common.Hash, blockNumber uint64, signer types.Signer, tx *types.Transaction, txIndex int) map[string]any {
	from := m.sender(signer, tx)
	fields := map[string]any{
		"blockHash":         blockHash,
		"blockNumber":       hexutil.Uint64(blockNumber),
		"transactionHash":   tx.Hash(),
		"transactionIndex":  hexutil.Uint64(txIndex),
		"from":              from,
		"to":                tx.To(),
		"gasUsed":           hexutil.Uint64(receipt.GasUsed),
		"cumulativeGasUsed": hexutil.Uint64(receipt.CumulativeGasUsed),
		"contractAddress":   nil,
		"logs":              receipt.Logs,
		"logsBloom":         receipt.Bloom,
		"type":              hexutil.Uint(tx.Type()),
		"effectiveGasPrice": (*hexutil.Big)(receipt.EffectiveGasPrice),
	}
	if len(receipt.PostState) > 0 {
		fields["root"] = hexutil.Bytes(receipt.PostState)
	} else {
		fields["status"] = hexutil.Uint(receipt.Status)
	}
	if receipt.Logs == nil {
		fields["logs"] = []*types.Log{}
	}
	if tx.Type() == types.BlobTxType {
		fields["blobGasUsed"] = hexutil.Uint64(receipt.BlobGasUsed)
		fields["blobGasPrice"] = (*hexutil.Big)(receipt.BlobGasPrice)
	}
	if receipt.ContractAddress != (common.Address{}) {
		fields["contractAddress"] = receipt.ContractAddress
	}
	return fields
}
