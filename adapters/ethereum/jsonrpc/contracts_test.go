package jsonrpc

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Test contracts are hand-assembled so they can be rebuilt by reading: one
// instruction per line, hex opcode and immediate first. Stack comments list
// the top of the stack first.

// initCode wraps runtime code in a constructor that returns it.
func initCode(runtime []byte) []byte {
	n := fmt.Sprintf("%02x", len(runtime))
	return append(common.FromHex(""+
		"60"+n+ // PUSH1 len   [len]
		"80"+ //   DUP1        [len len]
		"600b"+ // PUSH1 11    [11 len len]  the runtime starts after these 11 bytes
		"6000"+ // PUSH1 0     [0 11 len len]
		"39"+ //   CODECOPY    mem[0:len] = code[11:11+len]; [len]
		"6000"+ // PUSH1 0     [0 len]
		"f3", //   RETURN      return mem[0:len]
	), runtime...)
}

// bumpedTopic is topic0 of the counter's log, as for a Solidity event
// Bumped(address indexed by, uint256 value).
var bumpedTopic = crypto.Keccak256Hash([]byte("Bumped(address,uint256)"))

// counterCode adds one to storage slot 0, logs Bumped(caller, new value)
// and returns the new value.
func counterCode() []byte {
	return common.FromHex("" +
		"6000" + //                PUSH1 0       [0]
		"54" + //                  SLOAD         [v]
		"6001" + //                PUSH1 1       [1 v]
		"01" + //                  ADD           [v+1]
		"80" + //                  DUP1          [v+1 v+1]
		"6000" + //                PUSH1 0       [0 v+1 v+1]
		"55" + //                  SSTORE        slot0 = v+1; [v+1]
		"6000" + //                PUSH1 0       [0 v+1]
		"52" + //                  MSTORE        mem[0:32] = v+1; []
		"33" + //                  CALLER        [caller]
		"7f" + bumpedTopic.Hex()[2:] + // PUSH32 topic0  [topic0 caller]
		"6020" + //                PUSH1 32      [32 topic0 caller]
		"6000" + //                PUSH1 0       [0 32 topic0 caller]
		"a2" + //                  LOG2          log(mem[0:32], topic0, caller)
		"6020" + //                PUSH1 32      [32]
		"6000" + //                PUSH1 0       [0 32]
		"f3") //                   RETURN        return mem[0:32]
}

// revertCode reverts with the given data, which follows the 12 code bytes.
func revertCode(data []byte) []byte {
	n := fmt.Sprintf("%02x", len(data))
	return append(common.FromHex(""+
		"60"+n+ // PUSH1 len   [len]
		"600c"+ // PUSH1 12    [12 len]  the data starts after these 12 bytes
		"6000"+ // PUSH1 0     [0 12 len]
		"39"+ //   CODECOPY    mem[0:len] = code[12:12+len]
		"60"+n+ // PUSH1 len   [len]
		"6000"+ // PUSH1 0     [0 len]
		"fd", //   REVERT      revert(mem[0:len])
	), data...)
}

// errorString is the ABI encoding of Error(string) for a reason shorter
// than 32 bytes: selector, offset 32, length, the bytes padded to 32.
func errorString(reason string) []byte {
	out := common.FromHex("0x08c379a0")
	out = append(out, common.LeftPadBytes([]byte{32}, 32)...)
	out = append(out, common.LeftPadBytes([]byte{byte(len(reason))}, 32)...)
	return append(out, common.RightPadBytes([]byte(reason), 32)...)
}

// customError is a Solidity custom error: selector 0xdeadbeef with one
// uint256 argument, 7.
var customError = append(common.FromHex("0xdeadbeef"), common.LeftPadBytes([]byte{7}, 32)...)

// returnTop is the common tail: store the top of the stack at memory 0
// and return those 32 bytes.
const returnTop = "" +
	"6000" + // PUSH1 0   [0 x]
	"52" + //   MSTORE    mem[0:32] = x
	"6020" + // PUSH1 32  [32]
	"6000" + // PUSH1 0   [0 32]
	"f3" //     RETURN    return mem[0:32]

var (
	// sload0Code returns storage slot 0.
	sload0Code = common.FromHex("" +
		"6000" + // PUSH1 0   [0]
		"54" + //   SLOAD     [slot0]
		returnTop)
	// numberCode returns the number of the block it executes in.
	numberCode = common.FromHex("" +
		"43" + // NUMBER  [number]
		returnTop)
	// callerBalanceCode returns the caller's balance.
	callerBalanceCode = common.FromHex("" +
		"33" + // CALLER   [caller]
		"31" + // BALANCE  [balance]
		returnTop)
	// createCode creates an empty contract and returns its address, which
	// depends on this account's nonce.
	createCode = common.FromHex("" +
		"6000" + // PUSH1 0  size
		"6000" + // PUSH1 0  offset
		"6000" + // PUSH1 0  value
		"f0" + //   CREATE   [address]
		returnTop)
	// loopCode loops until it runs out of gas.
	loopCode = common.FromHex("" +
		"5b" + //   JUMPDEST  (pc 0)
		"6000" + // PUSH1 0   [0]
		"56") //    JUMP      to pc 0
)
