package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"path/filepath"
	"testing"

	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/leveldb"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"
)

// goldenGenesis is the genesis hash of testConfig(3). It changes only if the
// genesis format or go-ethereum's encoding does: clients and explorers that
// cached it would then see another chain.
const goldenGenesis = "0xe0e5c7df366a81f2180eacb7a3869a011fa87211b6528f1ff48dea632e51720b"

func TestGenesis(t *testing.T) {
	s := newSim(t, nil, testConfig(3))
	g := s.c.CurrentHeader()
	if s.c.Height() != 0 || g.Number.Sign() != 0 {
		t.Fatalf("head %v, want genesis", g.Number)
	}
	if s.c.Namespace() != "eth" {
		t.Fatalf("namespace %q", s.c.Namespace())
	}
	switch {
	case g.Difficulty.Sign() != 0:
		t.Error("difficulty not zero")
	case g.BaseFee == nil || g.BaseFee.Cmp(gwei) != 0:
		t.Errorf("base fee %v", g.BaseFee)
	case g.GasLimit != 1_000_000_000:
		t.Errorf("gas limit %d", g.GasLimit)
	case g.Time != genesisMs/1000:
		t.Errorf("time %d", g.Time)
	case g.WithdrawalsHash == nil || *g.WithdrawalsHash != types.EmptyWithdrawalsHash:
		t.Error("withdrawals hash")
	case g.BlobGasUsed == nil || *g.BlobGasUsed != 0 || g.ExcessBlobGas == nil || *g.ExcessBlobGas != 0:
		t.Error("blob gas fields")
	case g.ParentBeaconRoot == nil || *g.ParentBeaconRoot != (common.Hash{}):
		t.Error("parent beacon root")
	case g.RequestsHash == nil || *g.RequestsHash != types.EmptyRequestsHash:
		t.Error("requests hash")
	}
	cc := s.c.ChainConfig()
	if cc.ChainID.Uint64() != 49344 || !cc.IsOsaka(common.Big0, 0) || cc.IsAmsterdam(common.Big0, 0) {
		t.Errorf("chain config %v", cc)
	}
	if got := s.balance(addr(key(1))); got.Cmp(new(big.Int).Mul(big.NewInt(100), ether)) != 0 {
		t.Errorf("funded balance %v", got)
	}
	st, _ := s.c.StateAt(0)
	if len(st.GetCode(params.HistoryStorageAddress)) == 0 || len(st.GetCode(params.BeaconRootsAddress)) == 0 {
		t.Error("system contracts not deployed")
	}
	// Same config, same genesis: every replica agrees on it.
	other := newSim(t, nil, testConfig(3))
	if other.c.CurrentHeader().Hash() != g.Hash() {
		t.Fatal("genesis hash differs between two chains with one config")
	}
	if g.Hash().Hex() != goldenGenesis {
		t.Errorf("genesis hash %v, golden %v", g.Hash().Hex(), goldenGenesis)
	}
}

func TestTransfers(t *testing.T) {
	s := newSim(t, nil, testConfig(2))
	events := make(chan Event, 4)
	sub := s.c.SubscribeChainEvent(events)
	defer sub.Unsubscribe()
	pendingCh := make(chan []*types.Transaction, 8)
	psub := s.c.SubscribePendingTxs(pendingCh)
	defer psub.Unsubscribe()

	a, b := key(1), key(2)
	to := common.HexToAddress("0xbeef")
	tx0 := s.transfer(a, 0, to, ether)
	tx1 := s.transfer(a, 1, addr(b), big.NewInt(5))
	legacy := types.MustSignNewTx(b, s.signer(), &types.LegacyTx{Nonce: 0, GasPrice: big.NewInt(3 * params.GWei), Gas: 21000, To: &to, Value: big.NewInt(7)})
	for _, tx := range []*types.Transaction{tx0, tx1, legacy} {
		s.send(tx)
		if got := <-pendingCh; len(got) != 1 || got[0].Hash() != tx.Hash() {
			t.Fatalf("pending feed gave %v", got)
		}
	}
	if s.pendingNonce(addr(a)) != 2 || s.nonce(addr(a)) != 0 {
		t.Fatalf("pending nonce %d state nonce %d", s.pendingNonce(addr(a)), s.nonce(addr(a)))
	}
	if s.c.PendingTransaction(tx1.Hash()) == nil {
		t.Fatal("submitted tx not pending")
	}
	coinbaseBefore := s.balance(s.c.Config().Coinbase)
	block := s.mine()

	if got := len(block.Transactions()); got != 3 {
		t.Fatalf("block has %d txs", got)
	}
	// The block hash is the hash of the RLP header; roots are go-ethereum's.
	enc, _ := rlp.EncodeToBytes(block.Header())
	if crypto.Keccak256Hash(enc) != block.Hash() {
		t.Error("block hash is not keccak(rlp(header))")
	}
	receipts := s.c.Receipts(block.Hash())
	if again := s.c.Receipts(block.Hash()); len(again) != len(receipts) || again[0] != receipts[0] {
		t.Error("a block's receipts are decoded again on every read")
	}
	if types.DeriveSha(block.Transactions(), trie.NewStackTrie(nil)) != block.TxHash() {
		t.Error("tx root")
	}
	if types.DeriveSha(receipts, trie.NewStackTrie(nil)) != block.ReceiptHash() {
		t.Error("receipt root")
	}
	h := block.Header()
	if h.ParentHash != s.c.HeaderByNumber(0).Hash() || h.MixDigest != common.Hash(execBlock(1, nil).Hash) ||
		h.Time != genesisMs/1000+1 || h.Coinbase != s.c.Config().Coinbase || h.BaseFee.Cmp(gwei) != 0 || h.GasUsed != 3*21000 {
		t.Errorf("header %+v", h)
	}
	// Receipts: status, gas, price, positions.
	prices := []*big.Int{big.NewInt(2 * params.GWei), big.NewInt(2 * params.GWei), big.NewInt(3 * params.GWei)}
	for i, r := range receipts {
		if r.Status != types.ReceiptStatusSuccessful || r.GasUsed != 21000 || r.CumulativeGasUsed != uint64(i+1)*21000 ||
			r.EffectiveGasPrice.Cmp(prices[i]) != 0 || r.BlockHash != block.Hash() || r.BlockNumber.Uint64() != 1 ||
			r.TransactionIndex != uint(i) || r.TxHash != block.Transactions()[i].Hash() {
			t.Errorf("receipt %d: %+v", i, r)
		}
	}
	// Balances and nonces.
	fee := new(big.Int).Mul(big.NewInt(21000), prices[0])
	wantA := new(big.Int).Mul(big.NewInt(100), ether)
	wantA.Sub(wantA, ether).Sub(wantA, big.NewInt(5)).Sub(wantA, fee).Sub(wantA, fee)
	if got := s.balance(addr(a)); got.Cmp(wantA) != 0 {
		t.Errorf("sender balance %v want %v", got, wantA)
	}
	if got := s.balance(to); got.Cmp(new(big.Int).Add(ether, big.NewInt(7))) != 0 {
		t.Errorf("recipient balance %v", got)
	}
	if s.nonce(addr(a)) != 2 || s.nonce(addr(b)) != 1 {
		t.Errorf("nonces %d %d", s.nonce(addr(a)), s.nonce(addr(b)))
	}
	// Tips go to the coinbase: 1 gwei, 1 gwei, 2 gwei per gas.
	tips := new(big.Int).Mul(big.NewInt(21000*4), gwei)
	if got := new(big.Int).Sub(s.balance(s.c.Config().Coinbase), coinbaseBefore); got.Cmp(tips) != 0 {
		t.Errorf("coinbase earned %v want %v", got, tips)
	}
	// Lookups.
	tx, bh, num, idx := s.c.Transaction(tx1.Hash())
	if tx == nil || tx.Hash() != tx1.Hash() || bh != block.Hash() || num != 1 || idx != 1 {
		t.Errorf("lookup %v %v %d %d", tx, bh, num, idx)
	}
	if s.c.PendingTransaction(tx1.Hash()) != nil || s.pendingNonce(addr(a)) != 2 {
		t.Error("committed tx still pending")
	}
	if s.c.BlockByHash(block.Hash()) == nil || s.c.HeaderByHash(block.Hash()).Number.Uint64() != 1 || s.c.BlockByNumber(2) != nil {
		t.Error("block lookups")
	}
	// The event carries the same receipts as the database.
	ev := <-events
	if ev.Block.Hash() != block.Hash() || len(ev.Logs) != 0 {
		t.Fatalf("event %v", ev.Block.Hash())
	}
	got, _ := json.Marshal(ev.Receipts)
	want, _ := json.Marshal(receipts)
	if !bytes.Equal(got, want) {
		t.Errorf("event receipts\n%s\ndatabase receipts\n%s", got, want)
	}
}

// counterInit deploys a contract whose runtime code logs its calldata under
// topic 42 and stores the first calldata word in slot 0.
//
// Constructor (9 bytes): copy the 14-byte runtime that follows it to memory
// and return it.
//
//	600e  PUSH1 14    runtime size
//	80    DUP1        [14 14]
//	6009  PUSH1 9     runtime offset in this code
//	5f    PUSH0       memory destination
//	39    CODECOPY    mem[0:14] = code[9:23]; stack [14]
//	5f    PUSH0       [0 14]
//	f3    RETURN      return mem[0:14]
//
// Runtime (14 bytes):
//
//	36    CALLDATASIZE
//	5f    PUSH0
//	5f    PUSH0
//	37    CALLDATACOPY  mem[0:size] = calldata
//	602a  PUSH1 42      topic
//	36    CALLDATASIZE
//	5f    PUSH0
//	a1    LOG1          log(mem[0:size], topic)
//	5f    PUSH0
//	35    CALLDATALOAD  first calldata word
//	5f    PUSH0
//	55    SSTORE        slot 0 = word
//	00    STOP
const (
	counterInit    = "600e8060095f395ff3" + counterRuntime
	counterRuntime = "365f5f37602a365fa15f355f5500"
)

func TestContractDeployAndLog(t *testing.T) {
	s := newSim(t, nil, testConfig(1))
	k := key(1)
	deploy := s.dynTx(k, 0, nil, nil, 200_000, big.NewInt(2*params.GWei), gwei, common.FromHex(counterInit))
	s.send(deploy)
	s.mine()
	rs := s.c.Receipts(s.c.CurrentHeader().Hash())
	contract := crypto.CreateAddress(addr(k), 0)
	if len(rs) != 1 || rs[0].Status != types.ReceiptStatusSuccessful || rs[0].ContractAddress != contract {
		t.Fatalf("deploy receipt %+v", rs)
	}
	st, _ := s.c.StateAt(1)
	if !bytes.Equal(st.GetCode(contract), common.FromHex(counterRuntime)) {
		t.Fatalf("code %x", st.GetCode(contract))
	}

	events := make(chan Event, 1)
	sub := s.c.SubscribeChainEvent(events)
	defer sub.Unsubscribe()
	word := common.HexToHash("0xbeef")
	call := s.dynTx(k, 1, &contract, nil, 100_000, big.NewInt(2*params.GWei), gwei, word.Bytes())
	s.send(call)
	block := s.mine()
	rs = s.c.Receipts(block.Hash())
	ev := <-events
	got, _ := json.Marshal(ev.Logs)
	want, _ := json.Marshal(rs[0].Logs)
	if !bytes.Equal(got, want) {
		t.Errorf("event logs\n%s\ndatabase logs\n%s", got, want)
	}
	if len(rs) != 1 || rs[0].Status != types.ReceiptStatusSuccessful || len(rs[0].Logs) != 1 {
		t.Fatalf("call receipt %+v", rs)
	}
	l := rs[0].Logs[0]
	topic := common.BigToHash(big.NewInt(42))
	if l.Address != contract || len(l.Topics) != 1 || l.Topics[0] != topic || !bytes.Equal(l.Data, word.Bytes()) ||
		l.BlockHash != block.Hash() || l.BlockNumber != 2 || l.TxHash != call.Hash() || l.TxIndex != 0 || l.Index != 0 {
		t.Fatalf("log %+v", l)
	}
	for _, bloom := range []types.Bloom{rs[0].Bloom, block.Bloom()} {
		if !bloom.Test(contract.Bytes()) || !bloom.Test(topic.Bytes()) {
			t.Error("bloom misses the log")
		}
	}
	st, _ = s.c.StateAt(2)
	if st.GetState(contract, common.Hash{}) != word {
		t.Errorf("slot 0 = %v", st.GetState(contract, common.Hash{}))
	}
}

func TestExcludedTransactions(t *testing.T) {
	cfg := testConfig(3)
	cfg.GasLimit = 100_000
	s := newSim(t, nil, cfg)
	a, b := key(1), key(2)
	poor := key(9) // unfunded
	to := common.HexToAddress("0xbeef")

	good := s.transfer(a, 0, to, big.NewInt(1))
	s.send(good)
	replay := s.transfer(a, 0, to, big.NewInt(2)) // nonce 0 again, ordered after good
	gapped := s.transfer(b, 5, to, big.NewInt(1))
	broke := s.transfer(poor, 0, to, big.NewInt(1))
	big1 := s.dynTx(key(3), 0, &to, nil, 60_000, big.NewInt(2*params.GWei), gwei, nil)
	big2 := s.dynTx(key(3), 1, &to, nil, 60_000, big.NewInt(2*params.GWei), gwei, nil) // block gas exhausted
	blob := types.MustSignNewTx(b, s.signer(), &types.BlobTx{
		ChainID: uint256FromBig(s.c.ChainConfig().ChainID), Nonce: 0, GasTipCap: uint256FromBig(gwei), GasFeeCap: uint256FromBig(gwei),
		Gas: 21000, To: to, BlobFeeCap: uint256FromBig(gwei), BlobHashes: []common.Hash{{0x01}},
	})
	txs := s.txsFor(nil, good, replay, gapped, broke, big1, big2, blob)
	txs = append(txs,
		coretypes.Tx{Namespace: "eth", Payload: []byte{0x02, 0xff}, Sender: addr(a).Bytes()},
		coretypes.Tx{Namespace: "fabric", Payload: mustBin(s.transfer(b, 0, to, big.NewInt(1))), Sender: addr(b).Bytes()},
	)
	root, err := s.c.Execute(execBlock(1, txs))
	if err != nil {
		t.Fatal(err)
	}
	block := s.c.CurrentHeader()
	if coretypes.Hash(block.Root) != root {
		t.Fatal("returned root is not the header's")
	}
	got := s.c.BlockByNumber(1).Transactions()
	if len(got) != 2 || got[0].Hash() != good.Hash() || got[1].Hash() != big1.Hash() {
		t.Fatalf("included %d txs", len(got))
	}
	if s.c.PendingTransaction(good.Hash()) != nil || s.pendingNonce(addr(a)) != 1 {
		t.Error("included tx still pending")
	}
	if s.nonce(addr(b)) != 0 || s.nonce(addr(poor)) != 0 || s.nonce(addr(key(3))) != 1 {
		t.Error("an excluded tx changed a nonce")
	}
}

// txsFor wraps transactions as Coco would order them, with the ingress's
// sender.
func (s *sim) txsFor(out []coretypes.Tx, txs ...*types.Transaction) []coretypes.Tx {
	for _, tx := range txs {
		from, err := types.Sender(s.signer(), tx)
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, coretypes.Tx{Namespace: "eth", Payload: mustBin(tx), Sender: from.Bytes()})
	}
	return out
}

func mustBin(tx *types.Transaction) []byte {
	b, err := tx.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

func TestExecuteReplayAndOrder(t *testing.T) {
	s := newSim(t, nil, testConfig(1))
	s.send(s.transfer(key(1), 0, common.HexToAddress("0xbeef"), big.NewInt(1)))
	txs := s.txsFor(nil, s.c.PendingTransaction(s.submitted()[0]))
	first := execBlock(1, txs)
	root, err := s.c.Execute(first)
	if err != nil {
		t.Fatal(err)
	}
	head := s.c.CurrentHeader().Hash()
	// A replay of an applied block is a no-op that returns the same root.
	again, err := s.c.Execute(first)
	if err != nil || again != root || s.c.CurrentHeader().Hash() != head || s.c.Root() != root {
		t.Fatalf("replay: %v %v", again, err)
	}
	if r, err := s.c.Execute(execBlock(0, nil)); err != nil || r != coretypes.Hash(s.c.HeaderByNumber(0).Root) {
		t.Fatalf("replay genesis: %v", err)
	}
	if _, err := s.c.Execute(execBlock(0, txs)); !errors.Is(err, ErrGenesisTxs) {
		t.Fatalf("genesis with txs: %v", err)
	}
	forked := execBlock(1, nil)
	forked.Hash[0] ^= 1
	if _, err := s.c.Execute(forked); !errors.Is(err, ErrDiverged) {
		t.Fatalf("replay of another block 1: %v", err)
	}
	if _, err := s.c.Execute(execBlock(3, nil)); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("gap: %v", err)
	}
	if s.c.Height() != 1 {
		t.Fatalf("height %d", s.c.Height())
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	open := func() ethdb.Database {
		kv, err := leveldb.New(filepath.Join(dir, "eth"), 16, 16, "", false)
		if err != nil {
			t.Fatal(err)
		}
		return rawdb.NewDatabase(kv)
	}
	cfg := testConfig(2)
	db := open()
	s := &sim{t: t}
	c, err := New(db, cfg, s, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	for i := range 3 {
		s.send(s.transfer(key(1), uint64(i), addr(key(2)), ether))
		s.mine()
	}
	head := c.CurrentHeader()
	genesis := c.HeaderByNumber(0).Hash()
	c.Close()
	db.Close()

	db = open()
	defer db.Close()
	other := cfg
	other.ChainID = 1
	if _, err := New(db, other, nil, quietLog()); !errors.Is(err, ErrChainIDMismatch) {
		t.Fatalf("reopen with another chain id: %v", err)
	}
	s = &sim{t: t}
	c, err = New(db, cfg, s, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.c = c
	if c.Height() != 3 || c.CurrentHeader().Hash() != head.Hash() || c.HeaderByNumber(0).Hash() != genesis || c.Root() != coretypes.Hash(head.Root) {
		t.Fatalf("reopened at %d %v", c.Height(), c.CurrentHeader().Hash())
	}
	if s.pendingNonce(addr(key(1))) != 3 {
		t.Fatalf("nonce after reopen %d", s.pendingNonce(addr(key(1))))
	}
	s.send(s.transfer(key(1), 3, addr(key(2)), ether))
	block := s.mine()
	if block.NumberU64() != 4 || block.ParentHash() != head.Hash() || len(block.Transactions()) != 1 {
		t.Fatalf("continued with block %d", block.NumberU64())
	}
	want := new(big.Int).Mul(big.NewInt(104), ether)
	if got := s.balance(addr(key(2))); got.Cmp(want) != 0 {
		t.Fatalf("balance %v want %v", got, want)
	}
	// Old states stay readable.
	if st, err := c.StateAt(1); err != nil || st.GetNonce(addr(key(1))) != 1 {
		t.Fatalf("state at 1: %v", err)
	}
}

// failingDB fails batch writes while fail is set, as a full disk would.
type failingDB struct {
	ethdb.Database
	fail bool
}

type failingBatch struct {
	ethdb.Batch
	db *failingDB
}

func (d *failingDB) NewBatch() ethdb.Batch { return &failingBatch{d.Database.NewBatch(), d} }

func (b *failingBatch) Write() error {
	if b.db.fail {
		return errors.New("disk gone")
	}
	return b.Batch.Write()
}

func TestFailedCommitKeepsHead(t *testing.T) {
	db := &failingDB{Database: rawdb.NewMemoryDatabase()}
	s := newSim(t, db, testConfig(1))
	tx := s.transfer(key(1), 0, common.HexToAddress("0xbeef"), big.NewInt(1))
	s.send(tx)
	txs := s.txsFor(nil, tx)
	db.fail = true
	if _, err := s.c.Execute(execBlock(1, txs)); err == nil {
		t.Fatal("execute succeeded with a failing disk")
	}
	if s.c.Height() != 0 || rawdb.ReadHeadHeader(db).Number.Uint64() != 0 {
		t.Fatal("head moved")
	}
	db.fail = false
	root, err := s.c.Execute(execBlock(1, txs))
	if err != nil || s.c.Height() != 1 || len(s.c.BlockByNumber(1).Transactions()) != 1 || root != s.c.Root() {
		t.Fatalf("re-execute: %v", err)
	}
}
