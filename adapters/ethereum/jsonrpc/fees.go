package jsonrpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
)

// The tip oracle is go-ethereum's (eth/gasprice) with its full-node
// defaults: the 60th percentile of the three lowest tips of each of the last
// 20 blocks, tips under 2 wei ignored, an empty block counting as the last
// suggestion, capped at 500 gwei.
var (
	defaultTip       = big.NewInt(params.GWei / 1000) // go-ethereum's miner default
	maxTip           = big.NewInt(500 * params.GWei)
	ignoreTipUnder   = big.NewInt(2)
	errBeyondHead    = errors.New("request beyond head block")
	errBadPercentile = errors.New("invalid reward percentile")
)

const (
	tipBlocks        = 20
	tipSamples       = 3
	tipPercentile    = 60
	maxFeeHistory    = 1024
	maxRewardQueries = 100
)

// suggestTip is the priority fee a new transaction should offer.
func (api *ethAPI) suggestTip() *big.Int {
	head := api.b.CurrentHeader()
	api.tipMu.Lock()
	defer api.tipMu.Unlock()
	if api.tipLast == nil {
		api.tipLast = new(big.Int).Set(defaultTip)
	}
	if head.Hash() == api.tipHead {
		return new(big.Int).Set(api.tipLast)
	}
	var samples []*big.Int
	for n, i := head.Number.Uint64(), 0; i < tipBlocks && n > 0; i, n = i+1, n-1 {
		tips := api.lowestTips(n)
		if len(tips) == 0 {
			tips = []*big.Int{api.tipLast}
		}
		samples = append(samples, tips...)
	}
	price := api.tipLast
	if len(samples) > 0 {
		slices.SortFunc(samples, func(a, b *big.Int) int { return a.Cmp(b) })
		price = samples[(len(samples)-1)*tipPercentile/100]
	}
	if price.Cmp(maxTip) > 0 {
		price = maxTip
	}
	api.tipHead, api.tipLast = head.Hash(), new(big.Int).Set(price)
	return new(big.Int).Set(price)
}

// lowestTips are the lowest effective tips of block n, the fee recipient's
// own transactions and dust tips left out.
func (api *ethAPI) lowestTips(n uint64) []*big.Int {
	block := api.b.BlockByNumber(n)
	if block == nil {
		return nil
	}
	signer := types.MakeSigner(api.b.ChainConfig(), block.Number(), block.Time())
	baseFee := block.BaseFee()
	baseFee256 := new(uint256.Int)
	if baseFee != nil {
		baseFee256.SetFromBig(baseFee)
	}
	txs := slices.Clone(block.Transactions())
	slices.SortFunc(txs, func(a, b *types.Transaction) int { return a.EffectiveGasTipCmp(b, baseFee256) })
	var tips []*big.Int
	for _, tx := range txs {
		tip, _ := tx.EffectiveGasTip(baseFee)
		if tip.Cmp(ignoreTipUnder) < 0 {
			continue
		}
		if sender := api.m.sender(signer, tx); sender != (common.Address{}) && sender != block.Coinbase() {
			tips = append(tips, tip)
			if len(tips) >= tipSamples {
				break
			}
		}
	}
	return tips
}

// GasPrice is eth_gasPrice: the latest base fee plus the suggested tip.
func (api *ethAPI) GasPrice() *hexutil.Big {
	tip := api.suggestTip()
	if head := api.b.CurrentHeader(); head.BaseFee != nil {
		tip.Add(tip, head.BaseFee)
	}
	return (*hexutil.Big)(tip)
}

// MaxPriorityFeePerGas is eth_maxPriorityFeePerGas.
func (api *ethAPI) MaxPriorityFeePerGas() *hexutil.Big {
	return (*hexutil.Big)(api.suggestTip())
}

// feeHistoryResult is eth_feeHistory's answer. Unlike go-ethereum's, every
// array is present (possibly empty), because some clients index them
// without checking; reward is present when percentiles were asked for.
type feeHistoryResult struct {
	OldestBlock      *hexutil.Big     `json:"oldestBlock"`
	Reward           [][]*hexutil.Big `json:"reward,omitempty"`
	BaseFee          []*hexutil.Big   `json:"baseFeePerGas"`
	GasUsedRatio     []float64        `json:"gasUsedRatio"`
	BlobBaseFee      []*hexutil.Big   `json:"baseFeePerBlobGas"`
	BlobGasUsedRatio []float64        `json:"blobGasUsedRatio"`
}

// FeeHistory is eth_feeHistory. blockCount is a hex string or a JSON
// number. baseFeePerGas has one more entry than blocks: the next block's.
// Unlike go-ethereum, absent or null rewardPercentiles mean none (ethclient
// sends null for a nil slice).
func (api *ethAPI) FeeHistory(ctx context.Context, blockCount math.HexOrDecimal64, lastBlock rpc.BlockNumber, percentiles *[]float64) (*feeHistoryResult, error) {
	var rewardPercentiles []float64
	if percentiles != nil {
		rewardPercentiles = *percentiles
	}
	if len(rewardPercentiles) > maxRewardQueries {
		return nil, fmt.Errorf("%w: over the query limit %d", errBadPercentile, maxRewardQueries)
	}
	for i, p := range rewardPercentiles {
		if p < 0 || p > 100 {
			return nil, fmt.Errorf("%w: %f", errBadPercentile, p)
		}
		if i > 0 && p <= rewardPercentiles[i-1] {
			return nil, fmt.Errorf("%w: #%d:%f >= #%d:%f", errBadPercentile, i-1, rewardPercentiles[i-1], i, p)
		}
	}
	res := &feeHistoryResult{
		OldestBlock:      (*hexutil.Big)(new(big.Int)),
		BaseFee:          []*hexutil.Big{},
		GasUsedRatio:     []float64{},
		BlobBaseFee:      []*hexutil.Big{},
		BlobGasUsedRatio: []float64{},
	}
	blocks := min(uint64(blockCount), maxFeeHistory)
	if blocks == 0 {
		return res, nil
	}
	head := api.b.CurrentHeader()
	last := head
	if lastBlock >= 0 {
		if uint64(lastBlock) > head.Number.Uint64() {
			return nil, fmt.Errorf("%w: requested %d, head %d", errBeyondHead, lastBlock, head.Number.Uint64())
		}
		last = api.b.HeaderByNumber(uint64(lastBlock))
	} else if lastBlock == rpc.EarliestBlockNumber {
		last = api.b.HeaderByNumber(0)
	}
	if last == nil {
		return nil, ErrHeaderNotFound
	}
	lastNum := last.Number.Uint64()
	blocks = min(blocks, lastNum+1)
	oldest := lastNum + 1 - blocks
	res.OldestBlock = (*hexutil.Big)(new(big.Int).SetUint64(oldest))
	if len(rewardPercentiles) > 0 {
		res.Reward = make([][]*hexutil.Big, 0, blocks)
	}
	for n := oldest; n <= lastNum; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h := api.b.HeaderByNumber(n)
		if h == nil {
			return nil, fmt.Errorf("block %d: %w", n, ErrHeaderNotFound)
		}
		res.BaseFee = append(res.BaseFee, (*hexutil.Big)(bigOrZero(h.BaseFee)))
		ratio := 0.0
		if h.GasLimit > 0 {
			ratio = float64(h.GasUsed) / float64(h.GasLimit)
		}
		res.GasUsedRatio = append(res.GasUsedRatio, ratio)
		res.BlobBaseFee = append(res.BlobBaseFee, (*hexutil.Big)(new(big.Int)))
		res.BlobGasUsedRatio = append(res.BlobGasUsedRatio, 0)
		if len(rewardPercentiles) > 0 {
			rewards, err := api.blockRewards(h, rewardPercentiles)
			if err != nil {
				return nil, err
			}
			res.Reward = append(res.Reward, rewards)
		}
		if n == lastNum {
			// The base fee the chain will charge in the block after it.
			next := api.b.BlockContext(h).BaseFee
			res.BaseFee = append(res.BaseFee, (*hexutil.Big)(bigOrZero(next)))
			res.BlobBaseFee = append(res.BlobBaseFee, (*hexutil.Big)(new(big.Int)))
		}
	}
	return res, nil
}

// blockRewards are the effective tips at the given percentiles of the
// block's gas, weighted by each transaction's gas used.
func (api *ethAPI) blockRewards(h *types.Header, percentiles []float64) ([]*hexutil.Big, error) {
	rewards := make([]*hexutil.Big, len(percentiles))
	block := api.b.BlockByHash(h.Hash())
	if block == nil {
		return nil, fmt.Errorf("block %d: %w", h.Number.Uint64(), ErrHeaderNotFound)
	}
	txs := block.Transactions()
	if len(txs) == 0 {
		for i := range rewards {
			rewards[i] = (*hexutil.Big)(new(big.Int))
		}
		return rewards, nil
	}
	receipts := api.b.Receipts(block.Hash())
	if len(receipts) != len(txs) {
		return nil, fmt.Errorf("receipts length mismatch: %d vs %d", len(txs), len(receipts))
	}
	type gasAndReward struct {
		gas    uint64
		reward *big.Int
	}
	sorted := make([]gasAndReward, len(txs))
	for i, tx := range txs {
		reward, _ := tx.EffectiveGasTip(block.BaseFee())
		sorted[i] = gasAndReward{receipts[i].GasUsed, reward}
	}
	slices.SortStableFunc(sorted, func(a, b gasAndReward) int { return a.reward.Cmp(b.reward) })
	idx, sum := 0, sorted[0].gas
	for i, p := range percentiles {
		threshold := uint64(float64(block.GasUsed()) * p / 100)
		for sum < threshold && idx < len(sorted)-1 {
			idx++
			sum += sorted[idx].gas
		}
		rewards[i] = (*hexutil.Big)(sorted[idx].reward)
	}
	return rewards, nil
}

func bigOrZero(b *big.Int) *big.Int {
	if b == nil {
		return new(big.Int)
	}
	return b
}

// setFeeDefaults fills the fee fields of a transaction to send
// (go-ethereum's setFeeDefaults, without blob fees).
func (api *ethAPI) setFeeDefaults(args *txArgs, head *types.Header) error {
	if args.BlobFeeCap != nil && args.BlobFeeCap.ToInt().Sign() == 0 {
		return errors.New("maxFeePerBlobGas, if specified, must be non-zero")
	}
	if args.GasPrice != nil && (args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil) {
		return errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	if args.GasPrice != nil && args.AuthorizationList != nil {
		return errors.New("both gasPrice and authorizationList specified")
	}
	if args.GasPrice == nil && args.MaxFeePerGas != nil && args.MaxPriorityFeePerGas != nil {
		if args.MaxFeePerGas.ToInt().Sign() == 0 {
			return errors.New("maxFeePerGas must be non-zero")
		}
		if args.MaxFeePerGas.ToInt().Cmp(args.MaxPriorityFeePerGas.ToInt()) < 0 {
			return fmt.Errorf("maxFeePerGas (%v) < maxPriorityFeePerGas (%v)", args.MaxFeePerGas, args.MaxPriorityFeePerGas)
		}
		return nil
	}
	isLondon := api.b.ChainConfig().IsLondon(head.Number)
	if args.GasPrice != nil {
		if args.GasPrice.ToInt().Sign() == 0 && isLondon {
			return errors.New("gasPrice must be non-zero after london fork")
		}
		return nil
	}
	if !isLondon {
		if args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil {
			return errors.New("maxFeePerGas and maxPriorityFeePerGas are not valid before London is active")
		}
		args.GasPrice = (*hexutil.Big)(api.suggestTip())
		return nil
	}
	if args.MaxPriorityFeePerGas == nil {
		args.MaxPriorityFeePerGas = (*hexutil.Big)(api.suggestTip())
	}
	if args.MaxFeePerGas == nil {
		// Twice the base fee, so the transaction survives a rising base fee.
		fee := new(big.Int).Mul(bigOrZero(head.BaseFee), big.NewInt(2))
		args.MaxFeePerGas = (*hexutil.Big)(fee.Add(fee, args.MaxPriorityFeePerGas.ToInt()))
	}
	if args.MaxFeePerGas.ToInt().Cmp(args.MaxPriorityFeePerGas.ToInt()) < 0 {
		return fmt.Errorf("maxFeePerGas (%v) < maxPriorityFeePerGas (%v)", args.MaxFeePerGas, args.MaxPriorityFeePerGas)
	}
	return nil
}
