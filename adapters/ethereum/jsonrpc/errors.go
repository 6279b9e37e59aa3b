package jsonrpc

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/vm"
)

// Errors with go-ethereum's messages, which clients match on.
var (
	// ErrHeaderNotFound answers a state query for an unknown block number.
	ErrHeaderNotFound = errors.New("header not found")
	// ErrHashNotFound answers a state query for an unknown block hash.
	ErrHashNotFound = errors.New("header for hash not found")
	// ErrFilterNotFound answers a filter id that is unknown or expired.
	ErrFilterNotFound = errors.New("filter not found")
	// ErrUnknownBlock answers eth_getLogs for an unknown blockHash.
	ErrUnknownBlock = errors.New("unknown block")
	// ErrUnknownAccount answers a dev-signing request for an address without
	// a dev key.
	ErrUnknownAccount = errors.New("unknown account")
	// ErrBlobTxNotSupported answers eth_sendTransaction with blob fields.
	ErrBlobTxNotSupported = errors.New("signing blob transactions not supported")
)

// revertError is an EVM revert: JSON-RPC code 3 with the revert data, as
// go-ethereum answers it.
type revertError struct {
	error
	data string // hex revert data
}

func (e *revertError) ErrorCode() int         { return 3 }
func (e *revertError) ErrorData() interface{} { return e.data }

func newRevertError(revert []byte) *revertError {
	err := vm.ErrExecutionReverted
	if reason, uerr := abi.UnpackRevert(revert); uerr == nil {
		err = fmt.Errorf("%w: %v", vm.ErrExecutionReverted, reason)
	}
	return &revertError{error: err, data: hexutil.Encode(revert)}
}

// invalidParamsError is JSON-RPC -32602 with a message of ours.
type invalidParamsError struct{ err error }

func (e invalidParamsError) Error() string  { return e.err.Error() }
func (e invalidParamsError) ErrorCode() int { return -32602 }
func (e invalidParamsError) Unwrap() error  { return e.err }

func invalidParams(format string, args ...any) error {
	return invalidParamsError{fmt.Errorf(format, args...)}
}
