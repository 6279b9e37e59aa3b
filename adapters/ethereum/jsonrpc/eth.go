package jsonrpc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
)

// ethAPI is the eth namespace. Its exported methods are the RPC methods.
type ethAPI struct {
	b       Backend
	cfg     Config
	log     *slog.Logger
	filters *filterStore
	hub     *hub
	m       *marshaller

	tipMu   sync.Mutex
	tipHead common.Hash
	tipLast *big.Int
}

// resolveHeader maps a block number or tag to a header; nil when unknown.
// There is no pending block and BFT blocks are final when committed, so
// pending, safe and finalized are the latest block.
func (api *ethAPI) resolveHeader(n rpc.BlockNumber) *types.Header {
	switch n {
	case rpc.LatestBlockNumber, rpc.PendingBlockNumber, rpc.SafeBlockNumber, rpc.FinalizedBlockNumber:
		return api.b.CurrentHeader()
	case rpc.EarliestBlockNumber:
		return api.b.HeaderByNumber(0)
	}
	if n < 0 {
		return nil
	}
	return api.b.HeaderByNumber(uint64(n))
}

func (api *ethAPI) resolveBlock(n rpc.BlockNumber) *types.Block {
	switch n {
	case rpc.LatestBlockNumber, rpc.PendingBlockNumber, rpc.SafeBlockNumber, rpc.FinalizedBlockNumber:
		return api.b.BlockByHash(api.b.CurrentHeader().Hash())
	case rpc.EarliestBlockNumber:
		return api.b.BlockByNumber(0)
	}
	if n < 0 {
		return nil
	}
	return api.b.BlockByNumber(uint64(n))
}

// headerByNumberOrHash resolves an EIP-1898 block selector with
// go-ethereum's errors for unknown blocks.
func (api *ethAPI) headerByNumberOrHash(bnh rpc.BlockNumberOrHash) (*types.Header, error) {
	if n, ok := bnh.Number(); ok {
		h := api.resolveHeader(n)
		if h == nil {
			return nil, ErrHeaderNotFound
		}
		return h, nil
	}
	if hash, ok := bnh.Hash(); ok {
		h := api.b.HeaderByHash(hash)
		if h == nil {
			return nil, ErrHashNotFound
		}
		if bnh.RequireCanonical {
			if c := api.b.HeaderByNumber(h.Number.Uint64()); c == nil || c.Hash() != hash {
				return nil, errors.New("hash is not currently canonical")
			}
		}
		return h, nil
	}
	return nil, errors.New("invalid arguments; neither block nor hash specified")
}

// stateAndHeader opens a throw-away state after the selected block.
func (api *ethAPI) stateAndHeader(bnh rpc.BlockNumberOrHash) (*state.StateDB, *types.Header, error) {
	h, err := api.headerByNumberOrHash(bnh)
	if err != nil {
		return nil, nil, err
	}
	st, err := api.b.StateAt(h.Number.Uint64())
	if err != nil {
		return nil, nil, fmt.Errorf("state of block %d: %w", h.Number.Uint64(), err)
	}
	return st, h, nil
}

func orLatest(bnh *rpc.BlockNumberOrHash) rpc.BlockNumberOrHash {
	if bnh != nil {
		return *bnh
	}
	return rpc.BlockNumberOrHashWithNumber(rpc.LatestBlockNumber)
}

// ChainId is eth_chainId.
func (api *ethAPI) ChainId() *hexutil.Big {
	return (*hexutil.Big)(api.b.ChainConfig().ChainID)
}

// Syncing is eth_syncing: a node serves only committed blocks, so it is
// never behind from a client's point of view.
func (api *ethAPI) Syncing() bool { return false }

// BlockNumber is eth_blockNumber.
func (api *ethAPI) BlockNumber() hexutil.Uint64 {
	return hexutil.Uint64(api.b.CurrentHeader().Number.Uint64())
}

// GetHeaderByNumber is eth_getHeaderByNumber.
func (api *ethAPI) GetHeaderByNumber(number rpc.BlockNumber) map[string]any {
	if h := api.resolveHeader(number); h != nil {
		return marshalHeader(h)
	}
	return nil
}

// GetHeaderByHash is eth_getHeaderByHash.
func (api *ethAPI) GetHeaderByHash(hash common.Hash) map[string]any {
	if h := api.b.HeaderByHash(hash); h != nil {
		return marshalHeader(h)
	}
	return nil
}

// GetBlockByNumber is eth_getBlockByNumber; null for an unknown block.
func (api *ethAPI) GetBlockByNumber(number rpc.BlockNumber, fullTx bool) map[string]any {
	if b := api.resolveBlock(number); b != nil {
		return api.m.block(b, fullTx)
	}
	return nil
}

// GetBlockByHash is eth_getBlockByHash; null for an unknown block.
func (api *ethAPI) GetBlockByHash(hash common.Hash, fullTx bool) map[string]any {
	if b := api.b.BlockByHash(hash); b != nil {
		return api.m.block(b, fullTx)
	}
	return nil
}

// GetBlockTransactionCountByNumber is eth_getBlockTransactionCountByNumber.
func (api *ethAPI) GetBlockTransactionCountByNumber(number rpc.BlockNumber) *hexutil.Uint {
	if b := api.resolveBlock(number); b != nil {
		n := hexutil.Uint(len(b.Transactions()))
		return &n
	}
	return nil
}

// GetBlockTransactionCountByHash is eth_getBlockTransactionCountByHash.
func (api *ethAPI) GetBlockTransactionCountByHash(hash common.Hash) *hexutil.Uint {
	if b := api.b.BlockByHash(hash); b != nil {
		n := hexutil.Uint(len(b.Transactions()))
		return &n
	}
	return nil
}

// GetTransactionByBlockNumberAndIndex is
// eth_getTransactionByBlockNumberAndIndex.
func (api *ethAPI) GetTransactionByBlockNumberAndIndex(number rpc.BlockNumber, index hexutil.Uint) *rpcTransaction {
	if b := api.resolveBlock(number); b != nil {
		return api.m.txFromBlock(b, uint64(index))
	}
	return nil
}

// GetTransactionByBlockHashAndIndex is eth_getTransactionByBlockHashAndIndex.
func (api *ethAPI) GetTransactionByBlockHashAndIndex(hash common.Hash, index hexutil.Uint) *rpcTransaction {
	if b := api.b.BlockByHash(hash); b != nil {
		return api.m.txFromBlock(b, uint64(index))
	}
	return nil
}

// GetUncleCountByBlockNumber is eth_getUncleCountByBlockNumber (blocks
// here never have uncles, but the count is read, not assumed).
func (api *ethAPI) GetUncleCountByBlockNumber(number rpc.BlockNumber) *hexutil.Uint {
	if b := api.resolveBlock(number); b != nil {
		n := hexutil.Uint(len(b.Uncles()))
		return &n
	}
	return nil
}

// GetUncleCountByBlockHash is eth_getUncleCountByBlockHash.
func (api *ethAPI) GetUncleCountByBlockHash(hash common.Hash) *hexutil.Uint {
	if b := api.b.BlockByHash(hash); b != nil {
		n := hexutil.Uint(len(b.Uncles()))
		return &n
	}
	return nil
}

// GetUncleByBlockNumberAndIndex is eth_getUncleByBlockNumberAndIndex.
func (api *ethAPI) GetUncleByBlockNumberAndIndex(number rpc.BlockNumber, index hexutil.Uint) map[string]any {
	return api.uncle(api.resolveBlock(number), index)
}

// GetUncleByBlockHashAndIndex is eth_getUncleByBlockHashAndIndex.
func (api *ethAPI) GetUncleByBlockHashAndIndex(hash common.Hash, index hexutil.Uint) map[string]any {
	return api.uncle(api.b.BlockByHash(hash), index)
}

func (api *ethAPI) uncle(b *types.Block, index hexutil.Uint) map[string]any {
	if b == nil || int(index) >= len(b.Uncles()) {
		return nil
	}
	fields := marshalHeader(b.Uncles()[index])
	u := types.NewBlockWithHeader(b.Uncles()[index])
	fields["size"] = hexutil.Uint64(u.Size())
	fields["uncles"] = []common.Hash{}
	return fields
}

// GetBlockReceipts is eth_getBlockReceipts; null for an unknown block.
func (api *ethAPI) GetBlockReceipts(bnh rpc.BlockNumberOrHash) ([]map[string]any, error) {
	var block *types.Block
	if n, ok := bnh.Number(); ok {
		block = api.resolveBlock(n)
	} else if hash, ok := bnh.Hash(); ok {
		block = api.b.BlockByHash(hash)
	}
	if block == nil {
		return nil, nil
	}
	receipts := api.b.Receipts(block.Hash())
	txs := block.Transactions()
	if len(txs) != len(receipts) {
		return nil, fmt.Errorf("receipts length mismatch: %d vs %d", len(txs), len(receipts))
	}
	signer := types.MakeSigner(api.b.ChainConfig(), block.Number(), block.Time())
	result := make([]map[string]any, len(receipts))
	for i, r := range receipts {
		result[i] = api.m.receipt(r, block.Hash(), block.NumberU64(), signer, txs[i], i)
	}
	return result, nil
}

// GetBalance is eth_getBalance.
func (api *ethAPI) GetBalance(address common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Big, error) {
	st, _, err := api.stateAndHeader(orLatest(bnh))
	if err != nil {
		return nil, err
	}
	return (*hexutil.Big)(st.GetBalance(address).ToBig()), st.Error()
}

// GetTransactionCount is eth_getTransactionCount; "pending" counts
// submitted, uncommitted transactions.
func (api *ethAPI) GetTransactionCount(address common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Uint64, error) {
	sel := orLatest(bnh)
	if n, ok := sel.Number(); ok && n == rpc.PendingBlockNumber {
		nonce, err := api.b.PendingNonce(address)
		if err != nil {
			return nil, err
		}
		return (*hexutil.Uint64)(&nonce), nil
	}
	st, _, err := api.stateAndHeader(sel)
	if err != nil {
		return nil, err
	}
	nonce := st.GetNonce(address)
	return (*hexutil.Uint64)(&nonce), st.Error()
}

// GetCode is eth_getCode.
func (api *ethAPI) GetCode(address common.Address, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	st, _, err := api.stateAndHeader(orLatest(bnh))
	if err != nil {
		return nil, err
	}
	return st.GetCode(address), st.Error()
}

// GetStorageAt is eth_getStorageAt. The key is parsed leniently (optional
// 0x, odd length, at most 32 bytes) as go-ethereum does.
func (api *ethAPI) GetStorageAt(address common.Address, hexKey string, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	key, err := decodeStorageKey(hexKey)
	if err != nil {
		return nil, invalidParams("%v: %q", err, hexKey)
	}
	st, _, err := api.stateAndHeader(orLatest(bnh))
	if err != nil {
		return nil, err
	}
	v := st.GetState(address, key)
	return v[:], st.Error()
}

func decodeStorageKey(s string) (common.Hash, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s = s[2:]
	}
	if len(s)&1 == 1 {
		s = "0" + s
	}
	if len(s) > 64 {
		return common.Hash{}, errors.New("storage key too long (want at most 32 bytes)")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return common.Hash{}, errors.New("invalid hex in storage key")
	}
	return common.BytesToHash(b), nil
}

// GetTransactionByHash is eth_getTransactionByHash: committed transactions,
// then submitted ones (with null block fields), else null.
func (api *ethAPI) GetTransactionByHash(hash common.Hash) *rpcTransaction {
	tx, blockHash, number, index := api.b.Transaction(hash)
	if tx == nil {
		if ptx := api.b.PendingTransaction(hash); ptx != nil {
			return api.m.pendingTx(ptx, api.b.CurrentHeader())
		}
		return nil
	}
	h := api.b.HeaderByHash(blockHash)
	if h == nil {
		return nil
	}
	return api.m.tx(tx, blockHash, number, h.Time, index, h.BaseFee)
}

// GetRawTransactionByHash is eth_getRawTransactionByHash.
func (api *ethAPI) GetRawTransactionByHash(hash common.Hash) (hexutil.Bytes, error) {
	tx, _, _, _ := api.b.Transaction(hash)
	if tx == nil {
		tx = api.b.PendingTransaction(hash)
	}
	if tx == nil {
		return nil, nil
	}
	return tx.MarshalBinary()
}

// GetTransactionReceipt is eth_getTransactionReceipt; null until committed.
func (api *ethAPI) GetTransactionReceipt(hash common.Hash) (map[string]any, error) {
	tx, blockHash, number, index := api.b.Transaction(hash)
	if tx == nil {
		return nil, nil
	}
	receipts := api.b.Receipts(blockHash)
	if index >= uint64(len(receipts)) {
		return nil, fmt.Errorf("receipt %d of block %s not found", index, blockHash)
	}
	signer := types.LatestSigner(api.b.ChainConfig())
	return api.m.receipt(receipts[index], blockHash, number, signer, tx, int(index)), nil
}

// SendRawTransaction is eth_sendRawTransaction: decode, hand to the
// backend's ingress checks, answer the hash.
func (api *ethAPI) SendRawTransaction(ctx context.Context, input hexutil.Bytes) (common.Hash, error) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(input); err != nil {
		return common.Hash{}, err
	}
	return api.submit(ctx, tx)
}

func (api *ethAPI) submit(ctx context.Context, tx *types.Transaction) (common.Hash, error) {
	if err := api.b.SendTransaction(ctx, tx); err != nil {
		return common.Hash{}, err
	}
	api.log.Debug("submitted transaction", "hash", tx.Hash(), "nonce", tx.Nonce(), "to", tx.To())
	return tx.Hash(), nil
}

// netAPI is the net namespace.
type netAPI struct {
	b         Backend
	peerCount func() int
}

// Version is net_version: the chain id in decimal.
func (api *netAPI) Version() string { return api.b.ChainConfig().ChainID.String() }

// Listening is net_listening.
func (api *netAPI) Listening() bool { return true }

// PeerCount is net_peerCount.
func (api *netAPI) PeerCount() hexutil.Uint {
	if api.peerCount == nil {
		return 0
	}
	return hexutil.Uint(max(api.peerCount(), 0))
}

// web3API is the web3 namespace.
type web3API struct{ version string }

// ClientVersion is web3_clientVersion.
func (api *web3API) ClientVersion() string { return api.version }

// Sha3 is web3_sha3: Keccak-256 of the input.
func (api *web3API) Sha3(input hexutil.Bytes) hexutil.Bytes {
	return crypto.Keccak256(input)
}
