package jsonrpc

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
)

func TestIdentityMethods(t *testing.T) {
	e := newEnv(t)
	id, err := e.eth.ChainID(ctx(t))
	if err != nil || id.Cmp(e.chain.ChainConfig().ChainID) != 0 {
		t.Fatalf("chain id %v, %v; want %v", id, err, e.chain.ChainConfig().ChainID)
	}
	netID, err := e.eth.NetworkID(ctx(t))
	if err != nil || netID.Cmp(id) != 0 {
		t.Fatalf("net_version %v, %v; want %v", netID, err, id)
	}
	var version string
	e.mustCall(&version, "web3_clientVersion")
	if version != "coco/test" {
		t.Fatalf("client version %q", version)
	}
	var hash hexutil.Bytes
	e.mustCall(&hash, "web3_sha3", hexutil.Bytes("hello"))
	if common.BytesToHash(hash) != crypto.Keccak256Hash([]byte("hello")) {
		t.Fatalf("web3_sha3 = %x", hash)
	}
	var listening bool
	e.mustCall(&listening, "net_listening")
	var peers hexutil.Uint
	e.mustCall(&peers, "net_peerCount")
	if !listening || peers != 0 {
		t.Fatalf("listening %v peers %d", listening, peers)
	}
	progress, err := e.eth.SyncProgress(ctx(t))
	if err != nil || progress != nil {
		t.Fatalf("eth_syncing: %+v, %v; want not syncing", progress, err)
	}
	withPeers := newEnv(t, func(c *Config) { c.PeerCount = func() int { return 3 } })
	if err := withPeers.call(&peers, "net_peerCount"); err != nil || peers != 3 {
		t.Fatalf("net_peerCount with 3 peers: %d, %v", peers, err)
	}
}

func TestBlocksAndTags(t *testing.T) {
	e := newEnv(t)
	to := e.addrs[1]
	tx := e.send(0, &to, big.NewInt(1000), nil, 21000)
	b1 := e.mine()
	e.mine() // block 2, empty

	n, err := e.eth.BlockNumber(ctx(t))
	if err != nil || n != 2 {
		t.Fatalf("block number %d, %v; want 2", n, err)
	}
	// ethclient checks the transactions root and decodes every field.
	block, err := e.eth.BlockByNumber(ctx(t), big.NewInt(1))
	if err != nil {
		t.Fatalf("block 1: %v", err)
	}
	if block.Hash() != b1.Hash() || len(block.Transactions()) != 1 || block.Transactions()[0].Hash() != tx.Hash() {
		t.Fatalf("block 1 = %s with %d txs; want %s with %s", block.Hash(), len(block.Transactions()), b1.Hash(), tx.Hash())
	}
	byHash, err := e.eth.BlockByHash(ctx(t), b1.Hash())
	if err != nil || byHash.NumberU64() != 1 {
		t.Fatalf("block by hash: %v, %v", byHash, err)
	}
	// The header recomputed from the JSON fields hashes to the block hash:
	// every header field is served exactly.
	var raw map[string]any
	e.mustCall(&raw, "eth_getBlockByNumber", "0x1", false)
	header, err := e.eth.HeaderByNumber(ctx(t), big.NewInt(1))
	if err != nil || header.Hash() != b1.Hash() || raw["hash"] != b1.Hash().Hex() {
		t.Fatalf("header hash %s (json %v), %v; want %s", header.Hash(), raw["hash"], err, b1.Hash())
	}
	for _, field := range []string{"baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash", "size", "mixHash"} {
		if _, ok := raw[field]; !ok {
			t.Errorf("block JSON lacks %q", field)
		}
	}
	if w, ok := raw["withdrawals"].([]any); !ok || len(w) != 0 {
		t.Errorf("withdrawals = %v; want []", raw["withdrawals"])
	}
	if txs := raw["transactions"].([]any); len(txs) != 1 || txs[0] != tx.Hash().Hex() {
		t.Errorf("transactions (hashes) = %v", txs)
	}
	var full map[string]any
	e.mustCall(&full, "eth_getBlockByNumber", "0x1", true)
	if txs := full["transactions"].([]any); len(txs) != 1 || txs[0].(map[string]any)["hash"] != tx.Hash().Hex() {
		t.Errorf("transactions (full) = %v", full["transactions"])
	}

	head := e.chain.CurrentHeader().Hash().Hex()
	for tag, want := range map[string]string{
		"latest": head, "pending": head, "safe": head, "finalized": head,
		"earliest": e.chain.HeaderByNumber(0).Hash().Hex(), "0x1": b1.Hash().Hex(),
	} {
		var got map[string]any
		e.mustCall(&got, "eth_getBlockByNumber", tag, false)
		if got["hash"] != want {
			t.Errorf("block %q = %v; want %s", tag, got["hash"], want)
		}
	}
	var missing map[string]any
	e.mustCall(&missing, "eth_getBlockByNumber", "0x99", false)
	if missing != nil {
		t.Errorf("unknown block = %v; want null", missing)
	}
	if _, err := e.eth.BlockByHash(ctx(t), common.Hash{1}); !errors.Is(err, ethereum.NotFound) {
		t.Errorf("unknown hash: %v; want not found", err)
	}

	count, err := e.eth.TransactionCount(ctx(t), b1.Hash())
	if err != nil || count != 1 {
		t.Errorf("tx count by hash %d, %v", count, err)
	}
	var countByNum hexutil.Uint
	e.mustCall(&countByNum, "eth_getBlockTransactionCountByNumber", "0x2")
	if countByNum != 0 {
		t.Errorf("tx count of block 2 = %d", countByNum)
	}
	var uncles hexutil.Uint
	e.mustCall(&uncles, "eth_getUncleCountByBlockHash", b1.Hash())
	var uncle map[string]any
	e.mustCall(&uncle, "eth_getUncleByBlockNumberAndIndex", "0x1", "0x0")
	if uncles != 0 || uncle != nil {
		t.Errorf("uncles: count %d, uncle %v", uncles, uncle)
	}
	inBlock, err := e.eth.TransactionInBlock(ctx(t), b1.Hash(), 0)
	if err != nil || inBlock.Hash() != tx.Hash() {
		t.Errorf("tx in block: %v, %v", inBlock, err)
	}
	var byNumIdx map[string]any
	e.mustCall(&byNumIdx, "eth_getTransactionByBlockNumberAndIndex", "0x1", "0x0")
	if byNumIdx["hash"] != tx.Hash().Hex() || byNumIdx["blockHash"] != b1.Hash().Hex() {
		t.Errorf("tx by number and index = %v", byNumIdx)
	}
}

func TestTransactionsAndReceipts(t *testing.T) {
	e := newEnv(t)
	to := e.addrs[1]
	tx := e.send(0, &to, big.NewInt(12345), nil, 21000)

	// Submitted but not committed: found, pending, no receipt.
	got, pending, err := e.eth.TransactionByHash(ctx(t), tx.Hash())
	if err != nil || !pending || got.Hash() != tx.Hash() {
		t.Fatalf("pending tx: %v pending=%v %v", got, pending, err)
	}
	var raw map[string]any
	e.mustCall(&raw, "eth_getTransactionByHash", tx.Hash())
	if raw["blockHash"] != nil || raw["blockNumber"] != nil {
		t.Fatalf("pending tx has block fields: %v", raw)
	}
	if _, err := e.eth.TransactionReceipt(ctx(t), tx.Hash()); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("receipt before commit: %v; want not found", err)
	}
	nonce, err := e.eth.PendingNonceAt(ctx(t), e.addrs[0])
	if err != nil || nonce != 1 {
		t.Fatalf("pending nonce %d, %v; want 1", nonce, err)
	}
	latestNonce, err := e.eth.NonceAt(ctx(t), e.addrs[0], nil)
	if err != nil || latestNonce != 0 {
		t.Fatalf("latest nonce %d, %v; want 0", latestNonce, err)
	}

	block := e.mine()
	got, pending, err = e.eth.TransactionByHash(ctx(t), tx.Hash())
	if err != nil || pending || got.Hash() != tx.Hash() {
		t.Fatalf("committed tx: pending=%v %v", pending, err)
	}
	sender, err := e.eth.TransactionSender(ctx(t), got, block.Hash(), 0)
	if err != nil || sender != e.addrs[0] {
		t.Fatalf("sender %s, %v", sender, err)
	}
	r := e.receipt(tx)
	if r.Status != 1 || r.BlockHash != block.Hash() || r.GasUsed != 21000 || r.TxHash != tx.Hash() {
		t.Fatalf("receipt %+v", r)
	}
	// Effective price: base fee 1 gwei plus the 1 gwei tip.
	if r.EffectiveGasPrice.Cmp(big.NewInt(2e9)) != 0 {
		t.Fatalf("effective gas price %v; want 2 gwei", r.EffectiveGasPrice)
	}
	receipts, err := e.eth.BlockReceipts(ctx(t), rpc.BlockNumberOrHashWithHash(block.Hash(), false))
	if err != nil || len(receipts) != 1 || receipts[0].TxHash != tx.Hash() {
		t.Fatalf("block receipts %v, %v", receipts, err)
	}
	receipts, err = e.eth.BlockReceipts(ctx(t), rpc.BlockNumberOrHashWithNumber(rpc.LatestBlockNumber))
	if err != nil || len(receipts) != 1 {
		t.Fatalf("latest block receipts %v, %v", receipts, err)
	}
	var rawTx hexutil.Bytes
	e.mustCall(&rawTx, "eth_getRawTransactionByHash", tx.Hash())
	if want, _ := tx.MarshalBinary(); string(rawTx) != string(want) {
		t.Fatalf("raw tx differs")
	}

	// Balances, nonces at tags, numbers and EIP-1898 selectors.
	bal, err := e.eth.BalanceAt(ctx(t), e.addrs[1], nil)
	want := new(big.Int).Add(new(big.Int).Mul(big.NewInt(1000), ether), big.NewInt(12345))
	if err != nil || bal.Cmp(want) != 0 {
		t.Fatalf("balance %v, %v; want %v", bal, err, want)
	}
	old, err := e.eth.BalanceAt(ctx(t), e.addrs[1], big.NewInt(0))
	if err != nil || old.Cmp(new(big.Int).Mul(big.NewInt(1000), ether)) != 0 {
		t.Fatalf("balance at genesis %v, %v", old, err)
	}
	byHash, err := e.eth.BalanceAtHash(ctx(t), e.addrs[1], block.Hash())
	if err != nil || byHash.Cmp(want) != 0 {
		t.Fatalf("balance at hash %v, %v", byHash, err)
	}
	var byObj hexutil.Big
	e.mustCall(&byObj, "eth_getBalance", e.addrs[1], map[string]any{"blockNumber": "0x1"})
	if byObj.ToInt().Cmp(want) != 0 {
		t.Fatalf("balance with EIP-1898 number %v", byObj.ToInt())
	}
	for _, tag := range []string{"latest", "pending", "safe", "finalized"} {
		var n hexutil.Uint64
		e.mustCall(&n, "eth_getTransactionCount", e.addrs[0], tag)
		if n != 1 {
			t.Errorf("nonce at %q = %d; want 1", tag, n)
		}
	}
	err = e.call(new(hexutil.Big), "eth_getBalance", e.addrs[1], "0x99")
	if _, msg, _ := rpcErr(t, err); msg != "header not found" {
		t.Errorf("future block: %q", msg)
	}
	err = e.call(new(hexutil.Big), "eth_getBalance", e.addrs[1], map[string]any{"blockHash": common.Hash{1}})
	if _, msg, _ := rpcErr(t, err); msg != "header for hash not found" {
		t.Errorf("unknown hash: %q", msg)
	}
	var unknown map[string]any
	e.mustCall(&unknown, "eth_getTransactionReceipt", common.Hash{2})
	if unknown != nil {
		t.Errorf("unknown receipt = %v; want null", unknown)
	}
}

func TestCodeAndStorage(t *testing.T) {
	e := newEnv(t)
	addr := e.deploy(counterCode())
	code, err := e.eth.CodeAt(ctx(t), addr, nil)
	if err != nil || string(code) != string(counterCode()) {
		t.Fatalf("code %x, %v", code, err)
	}
	tx := e.send(1, &addr, nil, nil, 100_000)
	e.mine()
	if r := e.receipt(tx); r.Status != 1 || len(r.Logs) != 1 {
		t.Fatalf("bump: %+v", r)
	}
	slot, err := e.eth.StorageAt(ctx(t), addr, common.Hash{}, nil)
	if err != nil || new(big.Int).SetBytes(slot).Int64() != 1 {
		t.Fatalf("slot 0 = %x, %v", slot, err)
	}
	// go-ethereum parses the key leniently.
	var short hexutil.Bytes
	e.mustCall(&short, "eth_getStorageAt", addr, "0x0", "latest")
	if new(big.Int).SetBytes(short).Int64() != 1 {
		t.Fatalf("slot 0x0 = %x", short)
	}
	err = e.call(&short, "eth_getStorageAt", addr, "0xzz", "latest")
	if code, _, _ := rpcErr(t, err); code != -32602 {
		t.Fatalf("bad storage key code %d", code)
	}
	before, err := e.eth.StorageAt(ctx(t), addr, common.Hash{}, big.NewInt(int64(e.chain.CurrentHeader().Number.Uint64()-1)))
	if err != nil || new(big.Int).SetBytes(before).Sign() != 0 {
		t.Fatalf("slot 0 before the bump = %x, %v", before, err)
	}
}

func TestSendRawTransactionRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	balance, _ := e.eth.BalanceAt(ctx(t), e.addrs[0], nil)

	var hash common.Hash
	err := e.call(&hash, "eth_sendRawTransaction", hexutil.Bytes{0xde, 0xad, 0xbe, 0xef})
	if code, msg, _ := rpcErr(t, err); code != -32000 || !startsWith(msg, "rlp: ") {
		t.Errorf("bad RLP: %d %q", code, msg)
	}
	err = e.call(&hash, "eth_sendRawTransaction", hexutil.Bytes{0x02})
	if _, msg, _ := rpcErr(t, err); msg != "typed transaction too short" {
		t.Errorf("short typed tx: %q", msg)
	}
	// A signature that recovers to no key.
	to := e.addrs[1]
	good := e.signTx(0, &to, big.NewInt(1), nil, 21000)
	sig := make([]byte, 65)
	sig[0], sig[32], sig[64] = 1, 1, 0
	forged, err := good.WithSignature(e.signer, sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.eth.SendTransaction(ctx(t), forged); err == nil {
		t.Errorf("forged signature accepted")
	}
	// A signature from another key over another chain id.
	wrongChain, _ := types.SignNewTx(e.keys[0], types.LatestSignerForChainID(big.NewInt(1)), &types.DynamicFeeTx{
		ChainID: big.NewInt(1), GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(3e9), Gas: 21000, To: &to,
	})
	if err := e.eth.SendTransaction(ctx(t), wrongChain); err == nil {
		t.Errorf("transaction for chain 1 accepted")
	}
	e.mine()
	nonce, _ := e.eth.NonceAt(ctx(t), e.addrs[0], nil)
	after, _ := e.eth.BalanceAt(ctx(t), e.addrs[0], nil)
	if nonce != 0 || after.Cmp(balance) != 0 {
		t.Fatalf("rejected transactions changed state: nonce %d, balance %v -> %v", nonce, balance, after)
	}
	if head := e.chain.BlockByNumber(e.chain.CurrentHeader().Number.Uint64()); len(head.Transactions()) != 0 {
		t.Fatalf("rejected transactions were included")
	}
}

func startsWith(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }
