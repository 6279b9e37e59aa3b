package jsonrpc

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
)

// txArgs is go-ethereum's TransactionArgs without blob sidecars: the
// arguments of eth_call, eth_estimateGas, eth_createAccessList and
// eth_sendTransaction.
type txArgs struct {
	From                 *common.Address `json:"from"`
	To                   *common.Address `json:"to"`
	Gas                  *hexutil.Uint64 `json:"gas"`
	GasPrice             *hexutil.Big    `json:"gasPrice"`
	MaxFeePerGas         *hexutil.Big    `json:"maxFeePerGas"`
	MaxPriorityFeePerGas *hexutil.Big    `json:"maxPriorityFeePerGas"`
	Value                *hexutil.Big    `json:"value"`
	Nonce                *hexutil.Uint64 `json:"nonce"`

	// "input" is the current name; "data" is still accepted.
	Data  *hexutil.Bytes `json:"data"`
	Input *hexutil.Bytes `json:"input"`

	AccessList *types.AccessList `json:"accessList,omitempty"`
	ChainID    *hexutil.Big      `json:"chainId,omitempty"`

	BlobFeeCap *hexutil.Big  `json:"maxFeePerBlobGas"`
	BlobHashes []common.Hash `json:"blobVersionedHashes,omitempty"`

	AuthorizationList []types.SetCodeAuthorization `json:"authorizationList"`
}

func (args *txArgs) from() common.Address {
	if args.From == nil {
		return common.Address{}
	}
	return *args.From
}

func (args *txArgs) data() []byte {
	if args.Input != nil {
		return *args.Input
	}
	if args.Data != nil {
		return *args.Data
	}
	return nil
}

func (args *txArgs) isEIP4844() bool {
	return args.BlobHashes != nil || args.BlobFeeCap != nil
}

// checkBlobFeeCap rejects a blob fee cap without blob hashes.
func (args *txArgs) checkBlobFeeCap() error {
	if args.BlobFeeCap != nil && len(args.BlobHashes) == 0 {
		return errors.New("maxFeePerBlobGas specified without blobVersionedHashes")
	}
	return nil
}

// callDefaults fills the zero values of a simulated call (go-ethereum's
// CallDefaults).
func (args *txArgs) callDefaults(globalGasCap uint64, baseFee *big.Int, chainID *big.Int) error {
	if args.GasPrice != nil && (args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil) {
		return errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	if args.To == nil {
		if args.BlobHashes != nil {
			return core.ErrBlobTxCreate
		}
		if args.AuthorizationList != nil {
			return core.ErrSetCodeTxCreate
		}
	}
	if args.ChainID == nil {
		args.ChainID = (*hexutil.Big)(chainID)
	} else if have := (*big.Int)(args.ChainID); have.Cmp(chainID) != 0 {
		return fmt.Errorf("chainId does not match node's (have=%v, want=%v)", have, chainID)
	}
	if args.Gas == nil {
		gas := globalGasCap
		if gas == 0 {
			gas = uint64(math.MaxUint64 / 2)
		}
		args.Gas = (*hexutil.Uint64)(&gas)
	} else if globalGasCap > 0 && globalGasCap < uint64(*args.Gas) {
		args.Gas = (*hexutil.Uint64)(&globalGasCap)
	}
	if args.Nonce == nil {
		args.Nonce = new(hexutil.Uint64)
	}
	if args.Value == nil {
		args.Value = new(hexutil.Big)
	}
	if baseFee == nil {
		if args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil {
			return errors.New("maxFeePerGas and maxPriorityFeePerGas are not valid before London is active")
		}
		if args.GasPrice == nil {
			args.GasPrice = new(hexutil.Big)
		}
	} else {
		if args.MaxFeePerGas == nil {
			args.MaxFeePerGas = new(hexutil.Big)
		}
		if args.MaxPriorityFeePerGas == nil {
			args.MaxPriorityFeePerGas = new(hexutil.Big)
		}
	}
	if args.BlobFeeCap == nil && args.BlobHashes != nil {
		args.BlobFeeCap = new(hexutil.Big)
	}
	return nil
}

// toMessage converts defaulted arguments to an EVM message (go-ethereum's
// ToMessage).
func (args *txArgs) toMessage(baseFee *big.Int, skipNonceCheck bool) *core.Message {
	var gasPrice, gasFeeCap, gasTipCap *uint256.Int
	switch {
	case baseFee == nil:
		gasPrice, _ = args.GasPrice.ToUint256()
		gasFeeCap, gasTipCap = gasPrice, gasPrice
	case args.GasPrice != nil:
		gasPrice, _ = args.GasPrice.ToUint256()
		gasFeeCap, gasTipCap = gasPrice, gasPrice
	default:
		gasFeeCap, _ = args.MaxFeePerGas.ToUint256()
		gasTipCap, _ = args.MaxPriorityFeePerGas.ToUint256()
		// The legacy price is backfilled for execution unless every fee is zero.
		gasPrice = uint256.NewInt(0)
		if gasFeeCap.BitLen() > 0 || gasTipCap.BitLen() > 0 {
			gasPrice = gasPrice.Add(gasTipCap, uint256.MustFromBig(baseFee))
			if gasPrice.Cmp(gasFeeCap) > 0 {
				gasPrice = gasFeeCap
			}
		}
	}
	var accessList types.AccessList
	if args.AccessList != nil {
		accessList = *args.AccessList
	}
	value, _ := args.Value.ToUint256()
	blobFeeCap, _ := args.BlobFeeCap.ToUint256()
	msg := &core.Message{
		From:                  args.from(),
		To:                    args.To,
		Value:                 value,
		Nonce:                 uint64(*args.Nonce),
		GasLimit:              uint64(*args.Gas),
		GasPrice:              gasPrice,
		GasFeeCap:             gasFeeCap,
		GasTipCap:             gasTipCap,
		Data:                  args.data(),
		AccessList:            accessList,
		BlobGasFeeCap:         blobFeeCap,
		BlobHashes:            args.BlobHashes,
		SetCodeAuthorizations: args.AuthorizationList,
	}
	if skipNonceCheck {
		msg.SkipNonceCheck()
	}
	return msg.SkipEOACheck().SkipGasLimitCapCheck()
}

// toTransaction builds the unsigned transaction of defaulted arguments
// (go-ethereum's ToTransaction with a dynamic-fee default).
func (args *txArgs) toTransaction() *types.Transaction {
	usedType := types.DynamicFeeTxType
	if args.AuthorizationList != nil {
		usedType = types.SetCodeTxType
	}
	if args.GasPrice != nil {
		usedType = types.LegacyTxType
		if args.AccessList != nil {
			usedType = types.AccessListTxType
		}
	}
	al := types.AccessList{}
	if args.AccessList != nil {
		al = *args.AccessList
	}
	var data types.TxData
	switch usedType {
	case types.SetCodeTxType:
		data = &types.SetCodeTx{
			To:         *args.To,
			ChainID:    uint256.MustFromBig(args.ChainID.ToInt()),
			Nonce:      uint64(*args.Nonce),
			Gas:        uint64(*args.Gas),
			GasFeeCap:  uint256.MustFromBig((*big.Int)(args.MaxFeePerGas)),
			GasTipCap:  uint256.MustFromBig((*big.Int)(args.MaxPriorityFeePerGas)),
			Value:      uint256.MustFromBig((*big.Int)(args.Value)),
			Data:       args.data(),
			AccessList: al,
			AuthList:   args.AuthorizationList,
		}
	case types.DynamicFeeTxType:
		data = &types.DynamicFeeTx{
			To:         args.To,
			ChainID:    (*big.Int)(args.ChainID),
			Nonce:      uint64(*args.Nonce),
			Gas:        uint64(*args.Gas),
			GasFeeCap:  (*big.Int)(args.MaxFeePerGas),
			GasTipCap:  (*big.Int)(args.MaxPriorityFeePerGas),
			Value:      (*big.Int)(args.Value),
			Data:       args.data(),
			AccessList: al,
		}
	case types.AccessListTxType:
		data = &types.AccessListTx{
			To:         args.To,
			ChainID:    (*big.Int)(args.ChainID),
			Nonce:      uint64(*args.Nonce),
			Gas:        uint64(*args.Gas),
			GasPrice:   (*big.Int)(args.GasPrice),
			Value:      (*big.Int)(args.Value),
			Data:       args.data(),
			AccessList: al,
		}
	default:
		data = &types.LegacyTx{
			To:       args.To,
			Nonce:    uint64(*args.Nonce),
			Gas:      uint64(*args.Gas),
			GasPrice: (*big.Int)(args.GasPrice),
			Value:    (*big.Int)(args.Value),
			Data:     args.data(),
		}
	}
	return types.NewTx(data)
}

// checkDataInput rejects "data" and "input" that disagree.
func (args *txArgs) checkDataInput() error {
	if args.Data != nil && args.Input != nil && !bytes.Equal(*args.Data, *args.Input) {
		return errors.New(`both "data" and "input" are set and not equal. Please use "input" to pass transaction call data`)
	}
	return nil
}
