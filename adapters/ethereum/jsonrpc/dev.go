package jsonrpc

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// devAPI holds the eth methods that sign with development keys. It is
// registered only when keys are configured, so without them the methods
// answer "does not exist".
type devAPI struct {
	eth      *ethAPI
	accounts *devAccounts
	// sendMu serialises nonce assignment, so concurrent sends from one
	// account do not pick the same pending nonce.
	sendMu sync.Mutex
}

func (api *devAPI) key(addr common.Address) (*ecdsa.PrivateKey, error) {
	k, ok := api.accounts.keys[addr]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAccount, addr.Hex())
	}
	return k, nil
}

// Accounts is eth_accounts.
func (api *devAPI) Accounts() []common.Address {
	return append([]common.Address{}, api.accounts.addrs...)
}

// SendTransaction is eth_sendTransaction: fill nonce, gas, fees and chain
// id as go-ethereum does, sign with the dev key of "from", submit.
func (api *devAPI) SendTransaction(ctx context.Context, args txArgs) (common.Hash, error) {
	key, err := api.key(args.from())
	if err != nil {
		return common.Hash{}, err
	}
	if args.isEIP4844() {
		return common.Hash{}, ErrBlobTxNotSupported
	}
	if args.Nonce == nil {
		api.sendMu.Lock()
		defer api.sendMu.Unlock()
	}
	if err := api.setDefaults(ctx, &args); err != nil {
		return common.Hash{}, err
	}
	chainID := api.eth.b.ChainConfig().ChainID
	signed, err := types.SignTx(args.toTransaction(), types.LatestSignerForChainID(chainID), key)
	if err != nil {
		return common.Hash{}, err
	}
	return api.eth.submit(ctx, signed)
}

// setDefaults is go-ethereum's TransactionArgs.setDefaults without blobs.
func (api *devAPI) setDefaults(ctx context.Context, args *txArgs) error {
	b := api.eth.b
	if err := api.eth.setFeeDefaults(args, b.CurrentHeader()); err != nil {
		return err
	}
	if args.Value == nil {
		args.Value = new(hexutil.Big)
	}
	if args.Nonce == nil {
		nonce, err := b.PendingNonce(args.from())
		if err != nil {
			return err
		}
		args.Nonce = (*hexutil.Uint64)(&nonce)
	}
	if err := args.checkDataInput(); err != nil {
		return err
	}
	if args.To == nil {
		if len(args.data()) == 0 {
			return errors.New(`contract creation without any data provided`)
		}
		if args.AuthorizationList != nil {
			return errors.New(`authorizationList provided for contract creation, but "to" field is missing`)
		}
	}
	if args.Gas == nil {
		data := args.data()
		callArgs := txArgs{
			From:                 args.From,
			To:                   args.To,
			GasPrice:             args.GasPrice,
			MaxFeePerGas:         args.MaxFeePerGas,
			MaxPriorityFeePerGas: args.MaxPriorityFeePerGas,
			Value:                args.Value,
			Data:                 (*hexutil.Bytes)(&data),
			AccessList:           args.AccessList,
			AuthorizationList:    args.AuthorizationList,
		}
		estimated, err := api.eth.estimateGas(ctx, callArgs, rpc.BlockNumberOrHashWithNumber(rpc.LatestBlockNumber), nil, nil)
		if err != nil {
			return err
		}
		args.Gas = &estimated
	}
	want := b.ChainConfig().ChainID
	if args.ChainID != nil {
		if have := (*big.Int)(args.ChainID); have.Cmp(want) != 0 {
			return fmt.Errorf("chainId does not match node's (have=%v, want=%v)", have, want)
		}
	} else {
		args.ChainID = (*hexutil.Big)(want)
	}
	return nil
}

// Sign is eth_sign: an EIP-191 personal-message signature with V 27/28.
func (api *devAPI) Sign(addr common.Address, data hexutil.Bytes) (hexutil.Bytes, error) {
	return api.signHash(addr, accounts.TextHash(data))
}

// SignTypedData_v4 is eth_signTypedData_v4 (EIP-712). The typed data may
// come as a JSON object or, as MetaMask sends it, as a JSON string.
func (api *devAPI) SignTypedData_v4(addr common.Address, raw json.RawMessage) (hexutil.Bytes, error) {
	var data apitypes.TypedData
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		raw = json.RawMessage(text)
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		return nil, invalidParams("invalid typed data: %v", err)
	}
	hash, _, err := apitypes.TypedDataAndHash(data)
	if err != nil {
		return nil, invalidParams("invalid typed data: %v", err)
	}
	return api.signHash(addr, hash)
}

func (api *devAPI) signHash(addr common.Address, hash []byte) (hexutil.Bytes, error) {
	key, err := api.key(addr)
	if err != nil {
		return nil, err
	}
	sig, err := crypto.Sign(hash, key)
	if err != nil {
		return nil, err
	}
	sig[crypto.RecoveryIDOffset] += 27 // V as 27/28, as wallets produce it
	return sig, nil
}

// personalAPI is the personal namespace, served with dev keys only.
type personalAPI struct{ dev *devAPI }

// Sign is personal_sign(message, address[, password]); the password is
// ignored: dev keys are always unlocked.
func (api *personalAPI) Sign(data hexutil.Bytes, addr common.Address, _ *string) (hexutil.Bytes, error) {
	return api.dev.Sign(addr, data)
}
