package jsonrpc

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"io"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoledger/coco/adapters/ethereum/chain"
	"github.com/cocoledger/coco/adapters/ethereum/devkeys"
	"github.com/cocoledger/coco/core/node"
	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

const genesisMs = 1_700_000_000_000

var (
	testKeys  []*ecdsa.PrivateKey
	testAddrs []common.Address
	keysOnce  sync.Once
	ether     = big.NewInt(params.Ether)
)

func keys() ([]*ecdsa.PrivateKey, []common.Address) {
	keysOnce.Do(func() {
		ks, err := devkeys.Derive(devkeys.DevMnemonic, 3)
		if err != nil {
			panic(err)
		}
		testKeys = ks
		for _, k := range ks {
			testAddrs = append(testAddrs, crypto.PubkeyToAddress(k.PublicKey))
		}
	})
	return testKeys, testAddrs
}

// simNode stands in for the Coco node: it holds submitted transactions
// until the test decides a block with mine.
type simNode struct {
	mu  sync.Mutex
	txs []coretypes.Tx
}

func (n *simNode) Submit(tx coretypes.Tx) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.txs = append(n.txs, tx)
	return nil
}

func (n *simNode) take() []coretypes.Tx {
	n.mu.Lock()
	defer n.mu.Unlock()
	txs := n.txs
	n.txs = nil
	return txs
}

type env struct {
	t      testing.TB
	chain  *chain.Chain
	node   *simNode
	srv    *Server
	url    string
	rpc    *rpc.Client
	eth    *ethclient.Client
	keys   []*ecdsa.PrivateKey
	addrs  []common.Address
	signer types.Signer
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ks, addrs := keys()
	ccfg := chain.DefaultConfig()
	ccfg.GenesisTimeMs = genesisMs
	ccfg.Coinbase = common.HexToAddress("0xc0c0")
	ccfg.TrieCacheBytes = 0
	ccfg.Alloc = types.GenesisAlloc{}
	for _, a := range addrs {
		ccfg.Alloc[a] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), ether)}
	}
	n := &simNode{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := chain.New(rawdb.NewMemoryDatabase(), ccfg, n, log)
	if err != nil {
		t.Fatalf("chain.New: %v", err)
	}
	cfg := Config{ClientVersion: "coco/test"}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(c, cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	client, err := rpc.Dial(hs.URL)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	e := &env{
		t: t, chain: c, node: n, srv: srv, url: hs.URL, rpc: client, eth: ethclient.NewClient(client),
		keys: ks, addrs: addrs, signer: types.LatestSigner(c.ChainConfig()),
	}
	t.Cleanup(func() {
		client.Close()
		hs.Close()
		srv.Close()
		c.Close()
	})
	return e
}

func withDevKeys(e *Config) {
	ks, _ := keys()
	e.DevKeys = ks[:2]
}

// ws dials the server's WebSocket endpoint.
func (e *env) ws() *rpc.Client {
	e.t.Helper()
	c, err := rpc.Dial("ws" + strings.TrimPrefix(e.url, "http"))
	if err != nil {
		e.t.Fatalf("dial ws: %v", err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// mine decides the next block with every submitted transaction.
func (e *env) mine() *types.Block {
	e.t.Helper()
	n := e.chain.CurrentHeader().Number.Uint64() + 1
	_, err := e.chain.Execute(&node.ExecBlock{
		Number: n,
		TimeMs: genesisMs + n*1000,
		Hash:   coretypes.Sum(binary.BigEndian.AppendUint64(nil, n)),
		Txs:    e.node.take(),
	})
	if err != nil {
		e.t.Fatalf("execute block %d: %v", n, err)
	}
	return e.chain.BlockByNumber(n)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// signTx signs a dynamic-fee transaction from key i with the next pending
// nonce, paying 2 gwei at most and a 1 gwei tip.
func (e *env) signTx(i int, to *common.Address, value *big.Int, data []byte, gas uint64) *types.Transaction {
	e.t.Helper()
	nonce, err := e.eth.PendingNonceAt(ctx(e.t), e.addrs[i])
	if err != nil {
		e.t.Fatalf("pending nonce: %v", err)
	}
	tx, err := types.SignNewTx(e.keys[i], e.signer, &types.DynamicFeeTx{
		ChainID:   e.chain.ChainConfig().ChainID,
		Nonce:     nonce,
		GasTipCap: big.NewInt(params.GWei),
		GasFeeCap: big.NewInt(3 * params.GWei),
		Gas:       gas,
		To:        to,
		Value:     value,
		Data:      data,
	})
	if err != nil {
		e.t.Fatalf("sign: %v", err)
	}
	return tx
}

// send signs and submits a transaction through eth_sendRawTransaction.
func (e *env) send(i int, to *common.Address, value *big.Int, data []byte, gas uint64) *types.Transaction {
	e.t.Helper()
	tx := e.signTx(i, to, value, data, gas)
	if err := e.eth.SendTransaction(ctx(e.t), tx); err != nil {
		e.t.Fatalf("send: %v", err)
	}
	return tx
}

// receipt fetches a committed transaction's receipt.
func (e *env) receipt(tx *types.Transaction) *types.Receipt {
	e.t.Helper()
	r, err := e.eth.TransactionReceipt(ctx(e.t), tx.Hash())
	if err != nil {
		e.t.Fatalf("receipt of %s: %v", tx.Hash(), err)
	}
	return r
}

// deploy creates a contract with the given runtime code from key 0.
func (e *env) deploy(runtime []byte) common.Address {
	e.t.Helper()
	tx := e.send(0, nil, nil, initCode(runtime), 200_000)
	e.mine()
	r := e.receipt(tx)
	if r.Status != types.ReceiptStatusSuccessful {
		e.t.Fatalf("deploy failed: %+v", r)
	}
	return r.ContractAddress
}

// call is a raw JSON-RPC call whose error the caller inspects.
func (e *env) call(result any, method string, args ...any) error {
	return e.rpc.CallContext(ctx(e.t), result, method, args...)
}

func (e *env) mustCall(result any, method string, args ...any) {
	e.t.Helper()
	if err := e.call(result, method, args...); err != nil {
		e.t.Fatalf("%s: %v", method, err)
	}
}

// rpcErr unpacks a JSON-RPC error: code, message and data.
func rpcErr(t testing.TB, err error) (int, string, any) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got none")
	}
	re, ok := err.(rpc.Error)
	if !ok {
		t.Fatalf("error %v (%T) is not a JSON-RPC error", err, err)
	}
	var data any
	if de, ok := err.(rpc.DataError); ok {
		data = de.ErrorData()
	}
	return re.ErrorCode(), re.Error(), data
}

// eventually polls f until it reports true, for results that arrive through
// the server's asynchronous event fan-out.
func eventually(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
