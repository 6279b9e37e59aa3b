package chain

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"io"
	"log/slog"
	"math/big"
	"runtime"
	"sync"
	"testing"

	"github.com/cocoledger/coco/core/node"
	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

const genesisMs = 1_700_000_000_000

var (
	ether = big.NewInt(params.Ether)
	gwei  = big.NewInt(params.GWei)
)

// key returns the i-th deterministic test key (i >= 1).
func key(i int) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(common.LeftPadBytes(big.NewInt(int64(i)).Bytes(), 32))
	if err != nil {
		panic(err)
	}
	return k
}

func addr(k *ecdsa.PrivateKey) common.Address { return crypto.PubkeyToAddress(k.PublicKey) }

// testConfig funds keys 1..n with 100 ether each.
func testConfig(n int) Config {
	cfg := DefaultConfig()
	cfg.GenesisTimeMs = genesisMs
	cfg.Coinbase = common.HexToAddress("0xc0c0")
	cfg.TrieCacheBytes = 0
	cfg.Alloc = types.GenesisAlloc{}
	for i := 1; i <= n; i++ {
		cfg.Alloc[addr(key(i))] = types.Account{Balance: new(big.Int).Mul(big.NewInt(100), ether)}
	}
	return cfg
}

// sim is a simulated Coco node: it records what the chain submits and
// orders it into the next block on mine.
type sim struct {
	t    testing.TB
	c    *Chain
	mu   sync.Mutex
	txs  []coretypes.Tx
	fail error // returned by Submit when set
}

func (s *sim) Submit(tx coretypes.Tx) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.txs = append(s.txs, tx)
	return nil
}

// submitted returns the hashes of the transactions submitted and not mined.
func (s *sim) submitted() []common.Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []common.Hash
	for _, t := range s.txs {
		var tx types.Transaction
		if err := tx.UnmarshalBinary(t.Payload); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, tx.Hash())
	}
	return out
}

// execBlock builds the Coco block that follows the chain's head.
func execBlock(number uint64, txs []coretypes.Tx) *node.ExecBlock {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], number)
	return &node.ExecBlock{Number: number, TimeMs: genesisMs + number*1000, Hash: coretypes.Sum([]byte("block"), n[:]), Txs: txs}
}

// mine executes everything submitted so far as the next block.
func (s *sim) mine() *types.Block {
	s.t.Helper()
	s.c.pool.wait()
	s.mu.Lock()
	txs := s.txs
	s.txs = nil
	s.mu.Unlock()
	number := s.c.Height() + 1
	if _, err := s.c.Execute(execBlock(number, txs)); err != nil {
		s.t.Fatalf("execute block %d: %v", number, err)
	}
	s.c.pool.wait()
	return s.c.BlockByNumber(number)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newSim opens a chain over db (a fresh memory database when nil).
func newSim(t testing.TB, db ethdb.Database, cfg Config) *sim {
	t.Helper()
	if db == nil {
		db = rawdb.NewMemoryDatabase()
	}
	s := &sim{t: t}
	c, err := New(db, cfg, s, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s.c = c
	return s
}

// send signs and sends a transaction, failing the test on error.
func (s *sim) send(tx *types.Transaction) {
	s.t.Helper()
	if err := s.c.SendTransaction(context.Background(), tx); err != nil {
		s.t.Fatalf("send %v: %v", tx.Hash(), err)
	}
}

func (s *sim) signer() types.Signer { return types.LatestSigner(s.c.ChainConfig()) }

// transfer is a signed EIP-1559 transfer: 2 gwei fee cap, 1 gwei tip.
func (s *sim) transfer(k *ecdsa.PrivateKey, nonce uint64, to common.Address, value *big.Int) *types.Transaction {
	return s.dynTx(k, nonce, &to, value, 21000, big.NewInt(2*params.GWei), gwei, nil)
}

func (s *sim) dynTx(k *ecdsa.PrivateKey, nonce uint64, to *common.Address, value *big.Int, gas uint64, feeCap, tip *big.Int, data []byte) *types.Transaction {
	return types.MustSignNewTx(k, s.signer(), &types.DynamicFeeTx{
		ChainID:   s.c.ChainConfig().ChainID,
		Nonce:     nonce,
		GasTipCap: tip,
		GasFeeCap: feeCap,
		Gas:       gas,
		To:        to,
		Value:     value,
		Data:      data,
	})
}

func (s *sim) balance(a common.Address) *big.Int {
	s.t.Helper()
	st, err := s.c.StateAt(s.c.Height())
	if err != nil {
		s.t.Fatal(err)
	}
	return st.GetBalance(a).ToBig()
}

func (s *sim) nonce(a common.Address) uint64 {
	s.t.Helper()
	st, err := s.c.StateAt(s.c.Height())
	if err != nil {
		s.t.Fatal(err)
	}
	return st.GetNonce(a)
}

func (s *sim) pendingNonce(a common.Address) uint64 {
	s.t.Helper()
	n, err := s.c.PendingNonce(a)
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

func uint256FromBig(b *big.Int) *uint256.Int { return uint256.MustFromBig(b) }

func runtimeCPUs() int { return runtime.GOMAXPROCS(0) }
