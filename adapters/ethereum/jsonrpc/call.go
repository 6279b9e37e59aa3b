package jsonrpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/tracers/logger"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
)

// estimateGasErrorRatio is how much eth_estimateGas may overestimate to
// finish its search sooner (go-ethereum's value).
const estimateGasErrorRatio = 0.015

// Simulations execute on top of the selected block as the next block would
// (Backend.BlockContext): number+1, a later time and the next base fee, so
// what eth_call and eth_estimateGas see is what a transaction sent now meets.

// errAborted is the timeout error of a simulation, in go-ethereum's words.
func errAborted(timeout time.Duration) error {
	return fmt.Errorf("execution aborted (timeout = %v)", timeout)
}

// Call is eth_call. A revert answers code 3 with the revert data.
func (api *ethAPI) Call(ctx context.Context, args txArgs, bnh *rpc.BlockNumberOrHash, overrides *stateOverride, blockOverrides *blockOverrides) (hexutil.Bytes, error) {
	if err := args.checkBlobFeeCap(); err != nil {
		return nil, err
	}
	st, header, err := api.stateAndHeader(orLatest(bnh))
	if err != nil {
		return nil, err
	}
	res, err := api.doCall(ctx, args, st, header, overrides, blockOverrides)
	if err != nil {
		return nil, err
	}
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		return nil, newRevertError(res.Revert())
	}
	return res.Return(), res.Err
}

func (api *ethAPI) doCall(ctx context.Context, args txArgs, st *state.StateDB, header *types.Header, overrides *stateOverride, blockOverrides *blockOverrides) (*core.ExecutionResult, error) {
	config := api.b.ChainConfig()
	blockCtx := api.b.BlockContext(header)
	if err := blockOverrides.apply(&blockCtx); err != nil {
		return nil, err
	}
	precompiles := vm.ActivePrecompiledContracts(config.Rules(blockCtx.BlockNumber, blockCtx.Random != nil, blockCtx.Time))
	if err := overrides.apply(st, precompiles); err != nil {
		return nil, err
	}
	timeout := api.cfg.EVMTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	gp := core.NewGasPool(api.cfg.RPCGasCap)
	if err := args.callDefaults(gp.Available(config.IsAmsterdam(blockCtx.BlockNumber, blockCtx.Time)), blockCtx.BaseFee, config.ChainID); err != nil {
		return nil, err
	}
	msg := args.toMessage(blockCtx.BaseFee, true).SkipExecutionGasCapCheck()
	// A call without fees runs with a zero base fee, so it needs no funds
	// and keeps the EVM invariant basefee <= feecap.
	if msg.GasPrice.Sign() == 0 {
		blockCtx.BaseFee = new(big.Int)
	}
	if msg.BlobGasFeeCap != nil && msg.BlobGasFeeCap.BitLen() == 0 {
		blockCtx.BlobBaseFee = new(big.Int)
	}
	evm := vm.NewEVM(blockCtx, st, config, vm.Config{NoBaseFee: true})
	defer evm.Release()
	evm.SetPrecompiles(precompiles)
	stop := context.AfterFunc(ctx, evm.Cancel)
	defer stop()

	res, err := core.ApplyMessage(evm, msg, gp)
	if serr := st.Error(); serr != nil {
		return nil, serr
	}
	if evm.Cancelled() {
		return nil, errAborted(timeout)
	}
	if err != nil {
		return res, fmt.Errorf("err: %w (supplied gas %d)", err, msg.GasLimit)
	}
	return res, nil
}

// EstimateGas is eth_estimateGas: the lowest gas limit (within 1.5%) with
// which the transaction succeeds in the next block.
func (api *ethAPI) EstimateGas(ctx context.Context, args txArgs, bnh *rpc.BlockNumberOrHash, overrides *stateOverride, blockOverrides *blockOverrides) (hexutil.Uint64, error) {
	if err := args.checkBlobFeeCap(); err != nil {
		return 0, err
	}
	return api.estimateGas(ctx, args, orLatest(bnh), overrides, blockOverrides)
}

func (api *ethAPI) estimateGas(ctx context.Context, args txArgs, bnh rpc.BlockNumberOrHash, overrides *stateOverride, blockOverrides *blockOverrides) (hexutil.Uint64, error) {
	st, header, err := api.stateAndHeader(bnh)
	if err != nil {
		return 0, err
	}
	config := api.b.ChainConfig()
	blockCtx := api.b.BlockContext(header)
	if err := blockOverrides.apply(&blockCtx); err != nil {
		return 0, err
	}
	precompiles := vm.ActivePrecompiledContracts(config.Rules(blockCtx.BlockNumber, blockCtx.Random != nil, blockCtx.Time))
	if err := overrides.apply(st, precompiles); err != nil {
		return 0, err
	}
	// An absent gas stays zero, so the search starts at the block limit
	// rather than at the cap.
	if args.Gas == nil {
		args.Gas = new(hexutil.Uint64)
	}
	if err := args.callDefaults(api.cfg.RPCGasCap, blockCtx.BaseFee, config.ChainID); err != nil {
		return 0, err
	}
	timeout := api.cfg.EVMTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	e := &estimator{config: config, blockCtx: blockCtx, state: st, precompiles: precompiles}
	estimate, revert, err := e.estimate(ctx, args.toMessage(blockCtx.BaseFee, true), api.cfg.RPCGasCap)
	if err != nil {
		if errors.Is(err, vm.ErrExecutionReverted) {
			return 0, newRevertError(revert)
		}
		if ctx.Err() != nil {
			return 0, errAborted(timeout)
		}
		return 0, err
	}
	return hexutil.Uint64(estimate), nil
}

// estimator is go-ethereum's eth/gasestimator binary search, over a given
// block context instead of a header.
type estimator struct {
	config      *params.ChainConfig
	blockCtx    vm.BlockContext
	state       *state.StateDB
	precompiles vm.PrecompiledContracts
}

func (e *estimator) estimate(ctx context.Context, call *core.Message, gasCap uint64) (uint64, []byte, error) {
	var lo, hi uint64 // lo fails, hi succeeds
	hi = e.blockCtx.GasLimit
	if call.GasLimit >= params.TxGas {
		hi = call.GasLimit
	}
	// EIP-7825 caps a transaction's gas from Osaka.
	isOsaka := e.config.IsOsaka(e.blockCtx.BlockNumber, e.blockCtx.Time)
	isAmsterdam := e.config.IsAmsterdam(e.blockCtx.BlockNumber, e.blockCtx.Time)
	if hi > params.MaxTxGas && isOsaka && !isAmsterdam {
		hi = params.MaxTxGas
	}
	var feeCap *uint256.Int
	switch {
	case call.GasFeeCap != nil:
		feeCap = call.GasFeeCap
	case call.GasPrice != nil:
		feeCap = call.GasPrice
	default:
		feeCap = uint256.NewInt(0)
	}
	// With a fee, the sender's balance caps the gas it can buy.
	if feeCap.BitLen() != 0 {
		available := e.state.GetBalance(call.From).Clone()
		if call.Value != nil {
			if call.Value.Cmp(available) >= 0 {
				return 0, nil, core.ErrInsufficientFundsForTransfer
			}
			available.Sub(available, call.Value)
		}
		if e.config.IsCancun(e.blockCtx.BlockNumber, e.blockCtx.Time) && len(call.BlobHashes) > 0 {
			blobUsage := uint256.NewInt(uint64(len(call.BlobHashes)))
			blobUsage.Mul(blobUsage, uint256.NewInt(params.BlobTxBlobGasPerBlob))
			blobUsage.Mul(blobUsage, call.BlobGasFeeCap)
			if blobUsage.Cmp(available) >= 0 {
				return 0, nil, core.ErrInsufficientFunds
			}
			available.Sub(available, blobUsage)
		}
		allowance := new(uint256.Int).Div(available, feeCap)
		if allowance.IsUint64() && hi > allowance.Uint64() {
			hi = allowance.Uint64()
		}
	}
	if gasCap != 0 && hi > gasCap {
		hi = gasCap
	}
	// A plain transfer runs no code and gets no refund: one run is exact.
	if len(call.Data) == 0 && call.To != nil && e.state.GetCodeSize(*call.To) == 0 {
		failed, result, err := e.execute(ctx, call, params.TxGas)
		if !failed && err == nil {
			return result.UsedGas, nil, nil
		}
	}
	failed, result, err := e.execute(ctx, call, hi)
	if err != nil {
		return 0, nil, err
	}
	if failed {
		if result != nil && !errors.Is(result.Err, vm.ErrOutOfGas) {
			return 0, result.Revert(), result.Err
		}
		return 0, nil, fmt.Errorf("gas required exceeds allowance (%d)", hi)
	}
	lo = result.UsedGas - 1

	// Most transactions succeed with what they used plus the stipend, with
	// the 63/64 rule applied: try that first to shorten the search.
	optimistic := (result.MaxUsedGas + params.CallStipend) * 64 / 63
	if optimistic < hi {
		failed, _, err = e.execute(ctx, call, optimistic)
		if err != nil {
			return 0, nil, err
		}
		if failed {
			lo = optimistic
		} else {
			hi = optimistic
		}
	}
	for lo+1 < hi {
		if float64(hi-lo)/float64(hi) < estimateGasErrorRatio {
			break
		}
		mid := lo + (hi-lo)/2
		if mid > lo*2 {
			// Skewed low: most transactions need little more than they use.
			mid = lo * 2
		}
		failed, _, err = e.execute(ctx, call, mid)
		if err != nil {
			return 0, nil, err
		}
		if failed {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil, nil
}

// execute runs call with gasLimit on a copy of the state. failed reports a
// failure that more gas might fix; err one it cannot.
func (e *estimator) execute(ctx context.Context, call *core.Message, gasLimit uint64) (failed bool, res *core.ExecutionResult, err error) {
	defer func(gas uint64) { call.GasLimit = gas }(call.GasLimit)
	call.GasLimit = gasLimit

	if err := ctx.Err(); err != nil {
		return true, nil, err
	}
	blockCtx := e.blockCtx
	if call.GasPrice.Sign() == 0 {
		blockCtx.BaseFee = new(big.Int)
	}
	if call.BlobGasFeeCap != nil && call.BlobGasFeeCap.BitLen() == 0 {
		blockCtx.BlobBaseFee = new(big.Int)
	}
	dirty := e.state.Copy()
	evm := vm.NewEVM(blockCtx, dirty, e.config, vm.Config{NoBaseFee: true})
	defer evm.Release()
	evm.SetPrecompiles(e.precompiles)
	stop := context.AfterFunc(ctx, evm.Cancel)
	defer stop()

	res, err = core.ApplyMessage(evm, call, nil)
	if serr := dirty.Error(); serr != nil {
		return true, nil, serr
	}
	if evm.Cancelled() {
		// An aborted run stops early and looks successful: never trust it.
		return true, nil, context.Cause(ctx)
	}
	if err != nil {
		if errors.Is(err, core.ErrIntrinsicGas) || errors.Is(err, core.ErrGasLimitTooHigh) {
			return true, nil, nil
		}
		return true, nil, fmt.Errorf("failed with %d gas: %w", gasLimit, err)
	}
	return res.Failed(), res, nil
}

// accessListResult is the answer of eth_createAccessList.
type accessListResult struct {
	Accesslist *types.AccessList `json:"accessList"`
	Error      string            `json:"error,omitempty"`
	GasUsed    hexutil.Uint64    `json:"gasUsed"`
}

// CreateAccessList is eth_createAccessList: run the transaction with an
// access-list tracer until the list stops changing.
func (api *ethAPI) CreateAccessList(ctx context.Context, args txArgs, bnh *rpc.BlockNumberOrHash, overrides *stateOverride) (*accessListResult, error) {
	if err := args.checkBlobFeeCap(); err != nil {
		return nil, err
	}
	db, header, err := api.stateAndHeader(orLatest(bnh))
	if err != nil {
		return nil, err
	}
	config := api.b.ChainConfig()
	blockCtx := api.b.BlockContext(header)
	rules := config.Rules(blockCtx.BlockNumber, blockCtx.Random != nil, blockCtx.Time)
	// Applied before the nonce default, so an overridden nonce is used.
	if err := overrides.apply(db, vm.ActivePrecompiledContracts(rules)); err != nil {
		return nil, err
	}
	// Without any fee field the simulation needs no funds for gas.
	if args.GasPrice != nil || args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil || args.BlobFeeCap != nil {
		if err := api.setFeeDefaults(&args, api.b.CurrentHeader()); err != nil {
			return nil, err
		}
	}
	if args.Nonce == nil {
		nonce := hexutil.Uint64(db.GetNonce(args.from()))
		args.Nonce = &nonce
	}
	if err := args.callDefaults(api.cfg.RPCGasCap, blockCtx.BaseFee, config.ChainID); err != nil {
		return nil, err
	}
	to := crypto.CreateAddress(args.from(), uint64(*args.Nonce))
	if args.To != nil {
		to = *args.To
	}
	// Sender, recipient, precompiles and authorities are warm anyway.
	exclude := map[common.Address]struct{}{args.from(): {}, to: {}}
	for _, addr := range vm.ActivePrecompiles(rules) {
		exclude[addr] = struct{}{}
	}
	for _, auth := range args.AuthorizationList {
		if (!auth.ChainID.IsZero() && auth.ChainID.CmpBig(config.ChainID) != 0) || auth.Nonce+1 < auth.Nonce {
			continue
		}
		if authority, err := auth.Authority(); err == nil {
			exclude[authority] = struct{}{}
		}
	}
	var initial types.AccessList
	if args.AccessList != nil {
		initial = *args.AccessList
	}
	prev := logger.NewAccessListTracer(initial, exclude)
	timeout := api.cfg.EVMTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if ctx.Err() != nil {
			return nil, errAborted(timeout)
		}
		accessList := prev.AccessList()
		args.AccessList = &accessList
		msg := args.toMessage(blockCtx.BaseFee, true)

		tracer := logger.NewAccessListTracer(accessList, exclude)
		bctx := blockCtx
		if msg.GasPrice.Sign() == 0 {
			bctx.BaseFee = new(big.Int)
		}
		if msg.BlobGasFeeCap != nil && msg.BlobGasFeeCap.BitLen() == 0 {
			bctx.BlobBaseFee = new(big.Int)
		}
		statedb := db.Copy()
		evm := vm.NewEVM(bctx, statedb, config, vm.Config{Tracer: tracer.Hooks(), NoBaseFee: true})
		stop := context.AfterFunc(ctx, evm.Cancel)
		res, err := core.ApplyMessage(evm, msg, nil)
		stop()
		cancelled := evm.Cancelled()
		evm.Release()
		if cancelled {
			return nil, errAborted(timeout)
		}
		if err != nil {
			return nil, fmt.Errorf("failed to apply transaction: %v err: %v", args.toTransaction().Hash(), err)
		}
		if tracer.Equal(prev) {
			result := &accessListResult{Accesslist: &accessList, GasUsed: hexutil.Uint64(res.UsedGas)}
			if res.Err != nil {
				result.Error = res.Err.Error()
			}
			return result, nil
		}
		prev = tracer
	}
}
