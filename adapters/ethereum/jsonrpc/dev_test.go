package jsonrpc

import (
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// recoverSigner recovers the address of a wallet-style (V 27/28) signature.
func recoverSigner(t *testing.T, hash []byte, sig hexutil.Bytes) common.Address {
	t.Helper()
	if len(sig) != 65 || (sig[64] != 27 && sig[64] != 28) {
		t.Fatalf("signature %x is not 65 bytes with V 27/28", sig)
	}
	s := append([]byte{}, sig...)
	s[64] -= 27
	pub, err := crypto.SigToPub(hash, s)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	return crypto.PubkeyToAddress(*pub)
}

func TestDevAccounts(t *testing.T) {
	e := newEnv(t, withDevKeys)
	var accs []common.Address
	e.mustCall(&accs, "eth_accounts")
	if len(accs) != 2 || accs[0] != e.addrs[0] || accs[1] != e.addrs[1] {
		t.Fatalf("eth_accounts = %v", accs)
	}
	// Hardhat's first account.
	if accs[0] != common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266") {
		t.Fatalf("account 0 = %s", accs[0])
	}

	msg := hexutil.Bytes("hello coco")
	var sig hexutil.Bytes
	e.mustCall(&sig, "eth_sign", e.addrs[1], msg)
	if got := recoverSigner(t, accounts.TextHash(msg), sig); got != e.addrs[1] {
		t.Fatalf("eth_sign recovers to %s", got)
	}
	e.mustCall(&sig, "personal_sign", msg, e.addrs[0])
	if got := recoverSigner(t, accounts.TextHash(msg), sig); got != e.addrs[0] {
		t.Fatalf("personal_sign recovers to %s", got)
	}
	err := e.call(&sig, "eth_sign", e.addrs[2], msg)
	if _, m, _ := rpcErr(t, err); !startsWith(m, "unknown account") {
		t.Fatalf("sign with a foreign account: %q", m)
	}

	typed := `{
	  "types": {
	    "EIP712Domain": [{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
	    "Mail": [{"name":"from","type":"address"},{"name":"contents","type":"string"}]
	  },
	  "primaryType": "Mail",
	  "domain": {"name":"Coco","version":"1","chainId":49344,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
	  "message": {"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","contents":"hi"}
	}`
	var td apitypes.TypedData
	if err := json.Unmarshal([]byte(typed), &td); err != nil {
		t.Fatal(err)
	}
	hash, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		t.Fatal(err)
	}
	// As a JSON object, and as the JSON string MetaMask sends.
	e.mustCall(&sig, "eth_signTypedData_v4", e.addrs[0], json.RawMessage(typed))
	if got := recoverSigner(t, hash, sig); got != e.addrs[0] {
		t.Fatalf("eth_signTypedData_v4 (object) recovers to %s", got)
	}
	e.mustCall(&sig, "eth_signTypedData_v4", e.addrs[0], typed)
	if got := recoverSigner(t, hash, sig); got != e.addrs[0] {
		t.Fatalf("eth_signTypedData_v4 (string) recovers to %s", got)
	}
	err = e.call(&sig, "eth_signTypedData_v4", e.addrs[0], map[string]any{"primaryType": "Nope"})
	if code, _, _ := rpcErr(t, err); code != -32602 {
		t.Fatalf("bad typed data: code %d", code)
	}
}

func TestDevSendTransaction(t *testing.T) {
	e := newEnv(t, withDevKeys)
	to := e.addrs[2]
	var hash common.Hash
	e.mustCall(&hash, "eth_sendTransaction", map[string]any{"from": e.addrs[1], "to": to, "value": "0x3e8"})
	var second common.Hash
	e.mustCall(&second, "eth_sendTransaction", map[string]any{"from": e.addrs[1], "input": hexutil.Bytes(initCode(counterCode()))})
	e.mine()
	tx, pending, err := e.eth.TransactionByHash(ctx(t), hash)
	if err != nil || pending {
		t.Fatalf("sent tx: %v pending=%v", err, pending)
	}
	if tx.Type() != types.DynamicFeeTxType || tx.Nonce() != 0 || tx.Gas() != 21000 || tx.ChainId().Cmp(e.chain.ChainConfig().ChainID) != 0 {
		t.Fatalf("filled tx: type %d nonce %d gas %d chain %v", tx.Type(), tx.Nonce(), tx.Gas(), tx.ChainId())
	}
	if from, _ := types.Sender(e.signer, tx); from != e.addrs[1] {
		t.Fatalf("signed by %s", from)
	}
	if r1 := e.receipt(tx); r1.Status != 1 {
		t.Fatalf("transfer failed")
	}
	r, err := e.eth.TransactionReceipt(ctx(t), second)
	if err != nil || r.Status != 1 || r.ContractAddress == (common.Address{}) {
		t.Fatalf("deployment via eth_sendTransaction: %+v, %v", r, err)
	}
	bal, _ := e.eth.BalanceAt(ctx(t), to, nil)
	if want := new(big.Int).Add(new(big.Int).Mul(big.NewInt(1000), ether), big.NewInt(1000)); bal.Cmp(want) != 0 {
		t.Fatalf("recipient balance %v; want %v", bal, want)
	}
	err = e.call(&hash, "eth_sendTransaction", map[string]any{"from": e.addrs[2], "to": to})
	if _, m, _ := rpcErr(t, err); !startsWith(m, "unknown account") {
		t.Fatalf("send from a foreign account: %q", m)
	}
	err = e.call(&hash, "eth_sendTransaction", map[string]any{"from": e.addrs[0]})
	if _, m, _ := rpcErr(t, err); m != "contract creation without any data provided" {
		t.Fatalf("empty creation: %q", m)
	}
}
