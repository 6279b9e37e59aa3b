package jsonrpc

import (
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// BenchmarkCall measures one eth_call over HTTP through ethclient.
func BenchmarkCall(b *testing.B) {
	e := newEnv(b)
	counter := e.deploy(counterCode())
	msg := ethereum.CallMsg{From: e.addrs[1], To: &counter}
	c := ctx(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.eth.CallContract(c, msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEstimateGas measures eth_estimateGas of a storage write.
func BenchmarkEstimateGas(b *testing.B) {
	e := newEnv(b)
	counter := e.deploy(counterCode())
	msg := ethereum.CallMsg{From: e.addrs[1], To: &counter}
	c := ctx(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.eth.EstimateGas(c, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlockByNumber measures serving a block of 100 transactions with
// full transaction objects (the answer is not decoded, to measure the
// server rather than the client).
func BenchmarkBlockByNumber(b *testing.B) {
	e := newEnv(b)
	to := e.addrs[1]
	for range 100 {
		e.send(0, &to, big.NewInt(1), nil, 21000)
	}
	block := e.mine()
	c := ctx(b)
	b.ResetTimer()
	for b.Loop() {
		var raw json.RawMessage
		if err := e.rpc.CallContext(c, &raw, "eth_getBlockByNumber", hexutil.EncodeBig(block.Number()), true); err != nil || len(raw) < 100*500 {
			b.Fatalf("%d bytes, %v", len(raw), err)
		}
	}
}
