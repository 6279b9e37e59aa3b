package jsonrpc

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

func TestCall(t *testing.T) {
	e := newEnv(t)
	addr := e.deploy(counterCode())
	out, err := e.eth.CallContract(ctx(t), ethereum.CallMsg{From: e.addrs[1], To: &addr}, nil)
	if err != nil || new(big.Int).SetBytes(out).Int64() != 1 {
		t.Fatalf("call = %x, %v; want 1", out, err)
	}
	// The call changed nothing.
	slot, _ := e.eth.StorageAt(ctx(t), addr, common.Hash{}, nil)
	if new(big.Int).SetBytes(slot).Sign() != 0 {
		t.Fatalf("eth_call persisted state")
	}
	// At the genesis block the contract does not exist yet.
	out, err = e.eth.CallContract(ctx(t), ethereum.CallMsg{To: &addr}, big.NewInt(0))
	if err != nil || len(out) != 0 {
		t.Fatalf("call at genesis = %x, %v; want empty", out, err)
	}
	// By block hash (EIP-1898), with fees, and with "data" instead of "input".
	head := e.chain.CurrentHeader().Hash()
	var res hexutil.Bytes
	e.mustCall(&res, "eth_call", map[string]any{
		"from": e.addrs[0], "to": addr, "data": "0x", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1",
	}, map[string]any{"blockHash": head})
	if new(big.Int).SetBytes(res).Int64() != 1 {
		t.Fatalf("call by hash = %x", res)
	}
	// Simulations run as the next block.
	numAddr := e.deploy(numberCode)
	out, _ = e.eth.CallContract(ctx(t), ethereum.CallMsg{To: &numAddr}, nil)
	if got, want := new(big.Int).SetBytes(out).Uint64(), e.chain.CurrentHeader().Number.Uint64()+1; got != want {
		t.Fatalf("NUMBER in eth_call = %d; want %d", got, want)
	}
	e.mustCall(&res, "eth_call", map[string]any{"to": numAddr}, "latest", nil, map[string]any{"number": "0x1234"})
	if new(big.Int).SetBytes(res).Int64() != 0x1234 {
		t.Fatalf("NUMBER with block override = %x", res)
	}
}

func TestCallRevert(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, msg string
		data      []byte
	}{
		{"Error(string)", "execution reverted: nope", errorString("nope")},
		{"custom error", "execution reverted", customError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := e.deploy(revertCode(tc.data))
			_, err := e.eth.CallContract(ctx(t), ethereum.CallMsg{To: &addr}, nil)
			code, msg, data := rpcErr(t, err)
			if code != 3 || msg != tc.msg || data != hexutil.Encode(tc.data) {
				t.Fatalf("eth_call revert: code %d message %q data %v; want 3 %q %s", code, msg, data, tc.msg, hexutil.Encode(tc.data))
			}
			_, err = e.eth.EstimateGas(ctx(t), ethereum.CallMsg{From: e.addrs[0], To: &addr})
			code, msg, data = rpcErr(t, err)
			if code != 3 || msg != tc.msg || data != hexutil.Encode(tc.data) {
				t.Fatalf("eth_estimateGas revert: code %d message %q data %v", code, msg, data)
			}
		})
	}
}

func TestCallStateOverrides(t *testing.T) {
	e := newEnv(t)
	counter := e.deploy(counterCode())
	e.send(0, &counter, nil, nil, 100_000)
	e.mine() // slot 0 is now 1

	call := func(to common.Address, overrides map[string]any) *big.Int {
		t.Helper()
		var res hexutil.Bytes
		e.mustCall(&res, "eth_call", map[string]any{"from": e.addrs[2], "to": to}, "latest", overrides)
		return new(big.Int).SetBytes(res)
	}
	slot0 := common.Hash{}
	// code replaces the counter's code, keeping its storage.
	if got := call(counter, map[string]any{counter.Hex(): map[string]any{"code": hexutil.Bytes(sload0Code)}}); got.Int64() != 1 {
		t.Errorf("code override reads slot 0 = %v; want 1", got)
	}
	if got := call(counter, map[string]any{counter.Hex(): map[string]any{
		"code": hexutil.Bytes(sload0Code), "stateDiff": map[string]any{slot0.Hex(): common.BigToHash(big.NewInt(42)).Hex()},
	}}); got.Int64() != 42 {
		t.Errorf("stateDiff slot 0 = %v; want 42", got)
	}
	if got := call(counter, map[string]any{counter.Hex(): map[string]any{
		"code": hexutil.Bytes(sload0Code), "state": map[string]any{common.Hash{1}.Hex(): common.BigToHash(big.NewInt(5)).Hex()},
	}}); got.Sign() != 0 {
		t.Errorf("state (full replacement) slot 0 = %v; want 0", got)
	}
	somewhere := common.HexToAddress("0x5050")
	if got := call(somewhere, map[string]any{
		somewhere.Hex():  map[string]any{"code": hexutil.Bytes(callerBalanceCode)},
		e.addrs[2].Hex(): map[string]any{"balance": "0x1234"},
	}); got.Int64() != 0x1234 {
		t.Errorf("balance override = %v; want 0x1234", got)
	}
	got := call(somewhere, map[string]any{somewhere.Hex(): map[string]any{"code": hexutil.Bytes(createCode), "nonce": "0x7"}})
	if want := crypto.CreateAddress(somewhere, 7); common.BigToAddress(got) != want {
		t.Errorf("CREATE with nonce override = %s; want %s", common.BigToAddress(got), want)
	}
	var res hexutil.Bytes
	err := e.call(&res, "eth_call", map[string]any{"to": counter}, "latest", map[string]any{
		counter.Hex(): map[string]any{"state": map[string]any{}, "stateDiff": map[string]any{}},
	})
	if _, msg, _ := rpcErr(t, err); !strings.Contains(msg, "has both 'state' and 'stateDiff'") {
		t.Errorf("state and stateDiff: %q", msg)
	}
}

func TestEstimateGas(t *testing.T) {
	e := newEnv(t)
	to := e.addrs[1]
	gas, err := e.eth.EstimateGas(ctx(t), ethereum.CallMsg{From: e.addrs[0], To: &to, Value: big.NewInt(1)})
	if err != nil || gas != 21000 {
		t.Fatalf("transfer estimate %d, %v; want 21000", gas, err)
	}
	counter := e.deploy(counterCode())
	gas, err = e.eth.EstimateGas(ctx(t), ethereum.CallMsg{From: e.addrs[1], To: &counter})
	if err != nil {
		t.Fatalf("estimate: %v", err)
	}
	// Sent with exactly the estimate, the transaction succeeds.
	tx := e.send(1, &counter, nil, nil, gas)
	e.mine()
	r := e.receipt(tx)
	if r.Status != types.ReceiptStatusSuccessful || r.GasUsed > gas {
		t.Fatalf("tx with the estimate %d: status %d used %d", gas, r.Status, r.GasUsed)
	}
	// A contract deployment with the estimate succeeds; an identical one
	// with one gas less than it used fails.
	init := initCode(counterCode())
	gas, err = e.eth.EstimateGas(ctx(t), ethereum.CallMsg{From: e.addrs[0], Data: init})
	if err != nil {
		t.Fatalf("deploy estimate: %v", err)
	}
	tx = e.send(0, nil, nil, init, gas)
	e.mine()
	r = e.receipt(tx)
	if r.Status != types.ReceiptStatusSuccessful || r.GasUsed > gas {
		t.Fatalf("deployment with estimate %d: status %d used %d", gas, r.Status, r.GasUsed)
	}
	tx = e.send(0, nil, nil, init, r.GasUsed-1)
	e.mine()
	if r := e.receipt(tx); r.Status != types.ReceiptStatusFailed {
		t.Fatalf("deployment with less gas than it uses succeeded")
	}

	loop := e.deploy(loopCode)
	_, err = e.eth.EstimateGas(ctx(t), ethereum.CallMsg{From: e.addrs[0], To: &loop})
	if code, msg, _ := rpcErr(t, err); code != -32000 || !strings.HasPrefix(msg, "gas required exceeds allowance") {
		t.Errorf("endless loop: %d %q", code, msg)
	}
	_, err = e.eth.EstimateGas(ctx(t), ethereum.CallMsg{From: e.addrs[0], To: &to, GasPrice: big.NewInt(2e9), Value: new(big.Int).Mul(big.NewInt(2000), ether)})
	if _, msg, _ := rpcErr(t, err); msg != "insufficient funds for transfer" {
		t.Errorf("over balance: %q", msg)
	}
	// With a state override the same transfer is affordable.
	var est hexutil.Uint64
	e.mustCall(&est, "eth_estimateGas", map[string]any{
		"from": e.addrs[0], "to": to, "gasPrice": "0x77359400", "value": hexutil.EncodeBig(new(big.Int).Mul(big.NewInt(2000), ether)),
	}, "latest", map[string]any{e.addrs[0].Hex(): map[string]any{"balance": hexutil.EncodeBig(new(big.Int).Mul(big.NewInt(3000), ether))}})
	if est != 21000 {
		t.Errorf("estimate with balance override = %d", est)
	}
}

func TestCreateAccessList(t *testing.T) {
	e := newEnv(t)
	counter := e.deploy(counterCode())
	var res struct {
		AccessList types.AccessList `json:"accessList"`
		GasUsed    hexutil.Uint64   `json:"gasUsed"`
		Error      string           `json:"error"`
	}
	e.mustCall(&res, "eth_createAccessList", map[string]any{"from": e.addrs[0], "to": counter})
	// The recipient's address is warm anyway, its slot is listed.
	if len(res.AccessList) != 1 || res.AccessList[0].Address != counter || len(res.AccessList[0].StorageKeys) != 1 ||
		res.AccessList[0].StorageKeys[0] != (common.Hash{}) || res.GasUsed == 0 || res.Error != "" {
		t.Fatalf("access list %+v", res)
	}
	reader := common.HexToAddress("0x7777")
	// The reader touches the counter: PUSH20 counter, BALANCE, STOP.
	code := append([]byte{0x73}, counter.Bytes()...) // PUSH20 counter
	code = append(code, 0x31, 0x00)                  // BALANCE, STOP
	e.mustCall(&res, "eth_createAccessList", map[string]any{"from": e.addrs[0], "to": reader}, "latest",
		map[string]any{reader.Hex(): map[string]any{"code": hexutil.Bytes(code)}})
	if len(res.AccessList) != 1 || res.AccessList[0].Address != counter {
		t.Fatalf("access list through reader %+v", res.AccessList)
	}
}

func TestCallTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.EVMTimeout = time.Millisecond; c.RPCGasCap = 1 << 40 })
	loop := e.deploy(loopCode)
	// A billion-gas loop takes far longer than a millisecond.
	_, err := e.eth.CallContract(ctx(t), ethereum.CallMsg{To: &loop, Gas: 1 << 40}, nil)
	if _, msg, _ := rpcErr(t, err); msg != "execution aborted (timeout = 1ms)" {
		t.Fatalf("timeout: %q", msg)
	}
}

func TestGasCap(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RPCGasCap = 100_000 })
	counter := e.deploy(counterCode())
	loop := e.deploy(loopCode)
	// A gas above the cap is lowered to it, not refused.
	out, err := e.eth.CallContract(ctx(t), ethereum.CallMsg{To: &counter, Gas: 1_000_000_000}, nil)
	if err != nil || new(big.Int).SetBytes(out).Int64() != 1 {
		t.Fatalf("call above the cap: %x, %v", out, err)
	}
	_, err = e.eth.CallContract(ctx(t), ethereum.CallMsg{To: &loop, Gas: 1_000_000_000}, nil)
	if _, msg, _ := rpcErr(t, err); msg != "out of gas" {
		t.Fatalf("endless loop under the cap: %q", msg)
	}
	_, err = e.eth.EstimateGas(ctx(t), ethereum.CallMsg{From: e.addrs[0], To: &loop})
	if _, msg, _ := rpcErr(t, err); msg != "gas required exceeds allowance (100000)" {
		t.Fatalf("estimate under the cap: %q", msg)
	}
}
