package e2e

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

func transfer(t *testing.T, c *ethclient.Client, key *ecdsa.PrivateKey, nonce uint64, to common.Address, value *big.Int) *types.Transaction {
	t.Helper()
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(big.NewInt(49344)), &types.DynamicFeeTx{
		ChainID: big.NewInt(49344), Nonce: nonce, To: &to, Value: value, Gas: 21000,
		GasTipCap: big.NewInt(params.GWei), GasFeeCap: big.NewInt(3 * params.GWei),
	})
	if err := c.SendTransaction(ctxT(t, 10*time.Second), tx); err != nil {
		t.Fatalf("send tx nonce %d: %v", nonce, err)
	}
	return tx
}

func waitReceipt(t *testing.T, c *ethclient.Client, hash common.Hash) *types.Receipt {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := c.TransactionReceipt(context.Background(), hash)
		if err == nil {
			return r
		}
		if !errors.Is(err, ethereum.NotFound) {
			t.Fatalf("receipt %s: %v", hash, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no receipt for %s within 30s", hash)
	return nil
}

// A user's first session: the banner, the chain id, a transfer, its receipt
// and block; then Ctrl-C and a restart that continues the same chain.
func TestDevNodeServesEthclientAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := startDev(t, dir)
	if !strings.Contains(n.banner, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266") || !strings.Contains(strings.ToLower(n.banner), "virtual enclave: no hardware protection") {
		t.Fatalf("banner lacks dev accounts or the virtual-enclave warning:\n%s", n.banner)
	}
	c := n.client(t)
	ctx := ctxT(t, time.Minute)
	id, err := c.ChainID(ctx)
	if err != nil || id.Uint64() != 49344 {
		t.Fatalf("chain id %v %v", id, err)
	}
	from := crypto.PubkeyToAddress(devKeys[1].PublicKey)
	to := common.HexToAddress("0x000000000000000000000000000000000000c0c0")
	bal0, _ := c.BalanceAt(ctx, from, nil)
	if want := new(big.Int).Mul(big.NewInt(10000), big.NewInt(params.Ether)); bal0.Cmp(want) != 0 {
		t.Fatalf("dev account 1 balance %v, want %v", bal0, want)
	}
	var txs []*types.Transaction
	for i := range uint64(5) {
		txs = append(txs, transfer(t, c, devKeys[1], i, to, big.NewInt(1000)))
	}
	var last *types.Receipt
	for _, tx := range txs {
		last = waitReceipt(t, c, tx.Hash())
		if last.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("tx %s failed", tx.Hash())
		}
	}
	blk, err := c.BlockByNumber(ctx, last.BlockNumber)
	if err != nil || blk.Hash() != last.BlockHash {
		t.Fatalf("block %v: %v (hash %s vs receipt %s)", last.BlockNumber, err, blk.Hash(), last.BlockHash)
	}
	if got, _ := c.BalanceAt(ctx, to, nil); got.Int64() != 5000 {
		t.Fatalf("recipient balance %v", got)
	}
	// Node status says what it is.
	resp, err := http.Get(n.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Height   uint64 `json:"height"`
		Hardware bool   `json:"hardware_protection"`
		Warning  string `json:"warning"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Height < last.BlockNumber.Uint64() || st.Hardware || st.Warning == "" {
		t.Fatalf("status %+v", st)
	}

	head, _ := c.BlockNumber(ctx)
	n.stop()

	n2 := startDev(t, dir)
	c2 := n2.client(t)
	if h, _ := c2.BlockNumber(ctx); h != head {
		t.Fatalf("height after restart %d, want %d", h, head)
	}
	for _, tx := range txs {
		r, err := c2.TransactionReceipt(ctx, tx.Hash())
		if err != nil || r.Status != 1 {
			t.Fatalf("receipt of %s after restart: %v", tx.Hash(), err)
		}
	}
	if got, _ := c2.BalanceAt(ctx, to, nil); got.Int64() != 5000 {
		t.Fatalf("recipient balance after restart %v", got)
	}
	blk2, err := c2.BlockByNumber(ctx, last.BlockNumber)
	if err != nil || blk2.Hash() != blk.Hash() {
		t.Fatalf("block %v changed across restart", last.BlockNumber)
	}
	// The chain continues.
	r := waitReceipt(t, c2, transfer(t, c2, devKeys[1], 5, to, big.NewInt(1)).Hash())
	if r.BlockNumber.Uint64() != head+1 {
		t.Fatalf("first block after restart is %v, want %d", r.BlockNumber, head+1)
	}
	n2.stop()
}

// Bad input gets go-ethereum's errors and changes nothing.
func TestDevNodeRejectsBadInput(t *testing.T) {
	n := startDev(t, t.TempDir())
	c := n.client(t)
	raw := n.rpcClient(t, n.URL)
	ctx := ctxT(t, time.Minute)
	key := devKeys[2]
	from := crypto.PubkeyToAddress(key.PublicKey)
	to := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	signer := types.LatestSignerForChainID(big.NewInt(49344))

	cases := []struct {
		name string
		tx   func() ([]byte, error)
		want string
	}{
		{"wrong chain id", func() ([]byte, error) {
			tx := types.MustSignNewTx(key, types.LatestSignerForChainID(big.NewInt(1)), &types.DynamicFeeTx{ChainID: big.NewInt(1), To: &to, Gas: 21000, GasFeeCap: big.NewInt(2e9)})
			return tx.MarshalBinary()
		}, "chain id"},
		{"nonce too high beyond gap", func() ([]byte, error) {
			tx := types.MustSignNewTx(key, signer, &types.DynamicFeeTx{ChainID: big.NewInt(49344), Nonce: 1000, To: &to, Gas: 21000, GasFeeCap: big.NewInt(2e9)})
			return tx.MarshalBinary()
		}, "nonce too high"},
		{"insufficient funds", func() ([]byte, error) {
			tx := types.MustSignNewTx(key, signer, &types.DynamicFeeTx{ChainID: big.NewInt(49344), To: &to, Gas: 21000, GasFeeCap: big.NewInt(2e9), Value: new(big.Int).Mul(big.NewInt(1e6), big.NewInt(params.Ether))})
			return tx.MarshalBinary()
		}, "insufficient funds for gas * price + value"},
		{"intrinsic gas too low", func() ([]byte, error) {
			tx := types.MustSignNewTx(key, signer, &types.DynamicFeeTx{ChainID: big.NewInt(49344), To: &to, Gas: 20000, GasFeeCap: big.NewInt(2e9)})
			return tx.MarshalBinary()
		}, "intrinsic gas too low"},
		{"bad rlp", func() ([]byte, error) { return []byte{0x02, 0xc0, 0x01}, nil }, "rlp"},
		{"bad signature", func() ([]byte, error) {
			tx := types.MustSignNewTx(key, signer, &types.DynamicFeeTx{ChainID: big.NewInt(49344), To: &to, Gas: 21000, GasFeeCap: big.NewInt(2e9)})
			v, r, s := tx.RawSignatureValues()
			bad, _ := tx.WithSignature(signer, append(append(common.LeftPadBytes(r.Bytes(), 32), common.LeftPadBytes(new(big.Int).Add(s, big.NewInt(1)).Bytes(), 32)...), byte(v.Uint64()+1)%2))
			return bad.MarshalBinary()
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.tx()
			if err != nil {
				t.Fatal(err)
			}
			var hash common.Hash
			err = raw.CallContext(ctx, &hash, "eth_sendRawTransaction", "0x"+common.Bytes2Hex(data))
			if err == nil {
				// A signature that recovers to a random address with no funds is
				// refused for funds; anything accepted would be a bug.
				t.Fatalf("accepted, hash %s", hash)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	if nonce, _ := c.PendingNonceAt(ctx, from); nonce != 0 {
		t.Fatalf("rejected transactions changed the nonce to %d", nonce)
	}
	if h, _ := c.BlockNumber(ctx); h != 0 {
		t.Fatalf("rejected transactions produced blocks: height %d", h)
	}

	// Transport-level abuse.
	post := func(body string) map[string]any {
		resp, err := http.Post(n.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	if e := post(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId"`)["error"]; e == nil || e.(map[string]any)["code"].(float64) != -32700 {
		t.Fatalf("malformed JSON: %v", e)
	}
	if e := post(`{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[123,"latest"]}`)["error"]; e == nil || e.(map[string]any)["code"].(float64) != -32602 {
		t.Fatalf("wrong param type: %v", e)
	}
	if e := post(`{"jsonrpc":"2.0","id":1,"method":"eth_noSuchMethod","params":[]}`)["error"]; e == nil || e.(map[string]any)["code"].(float64) != -32601 ||
		!strings.Contains(e.(map[string]any)["message"].(string), "does not exist/is not available") {
		t.Fatalf("unknown method: %v", e)
	}
	huge := `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["` + strings.Repeat("a", 6<<20) + `"]}`
	resp, err := http.Post(n.URL, "application/json", strings.NewReader(huge))
	if err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("6 MiB request accepted with status %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
	batch := make([]rpc.BatchElem, 1001)
	for i := range batch {
		batch[i] = rpc.BatchElem{Method: "eth_chainId", Result: new(string)}
	}
	err = raw.BatchCallContext(ctx, batch)
	if err == nil && batch[0].Error == nil {
		t.Fatal("a batch of 1001 calls was served")
	}
	// The node is still fine.
	if id, err := c.ChainID(ctx); err != nil || id.Uint64() != 49344 {
		t.Fatalf("node unhealthy after bad input: %v", err)
	}
}
