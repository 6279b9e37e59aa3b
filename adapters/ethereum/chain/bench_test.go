package chain

import (
	"bytes"
	"context"
	"log/slog"
	"math/big"
	"sync"
	"testing"

	"github.com/cocoledger/coco/adapters/ethereum/kv"
	"github.com/cocoledger/coco/core/state"
	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/params"
)

const benchAccounts = 1000

// flushHead writes the head state to disk, as the next flush would.
func flushHead(c *Chain) error {
	c.execMu.Lock()
	defer c.execMu.Unlock()
	return c.flushLocked(c.CurrentHeader())
}

// BenchmarkExecuteTransfers executes blocks of 1000 transfers from 1000
// accounts, with the ingress's senders (no signature recovery), over an
// in-memory database.
func BenchmarkExecuteTransfers(b *testing.B) {
	benchExecute(b, rawdb.NewMemoryDatabase(), benchAccounts, nil)
}

// BenchmarkExecuteTransfersPebble is BenchmarkExecuteTransfers over the
// node's own encrypted Pebble database, as `coco` runs it: writing trie
// nodes to disk is what the memory database hides.
func BenchmarkExecuteTransfersPebble(b *testing.B) {
	for _, bc := range []struct {
		name string
		txs  int
	}{{"txs=1000", benchAccounts}, {"txs=100", 100}} {
		b.Run(bc.name, func(b *testing.B) {
			sdb, err := state.Open(b.TempDir(), state.Options{Key: bytes.Repeat([]byte{7}, state.KeySize), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			db := rawdb.NewDatabase(kv.New(sdb.Namespace(Namespace)))
			b.Cleanup(func() { sdb.Close() })
			benchExecute(b, db, bc.txs, func() uint64 {
				m, err := sdb.Metrics()
				if err != nil {
					b.Fatal(err)
				}
				return m.WAL.BytesWritten
			})
		})
	}
}

// benchExecute executes b.N blocks of txs transfers, one per account, and
// finally makes the head state durable, so that the time per block includes
// its share of the writes. walBytes, when given, reports what the database
// wrote to its log so far.
func benchExecute(b *testing.B, db ethdb.Database, txs int, walBytes func() uint64) {
	cfg := testConfig(benchAccounts)
	cfg.TrieCacheBytes = 64 << 20
	s := newSim(b, db, cfg)
	to := common.HexToAddress("0xbeef")
	senders := make([][]byte, txs)
	for k := range senders {
		senders[k] = addr(key(k + 1)).Bytes()
	}
	blocks := make([][]coretypes.Tx, b.N)
	for i := range blocks {
		blocks[i] = make([]coretypes.Tx, txs)
		for k := range txs {
			// Execute trusts the ingress's sender and never looks at the
			// signature: unsigned transactions keep the set-up short.
			tx := types.NewTx(&types.DynamicFeeTx{
				ChainID: s.c.ChainConfig().ChainID, Nonce: uint64(i), GasTipCap: gwei, GasFeeCap: big.NewInt(2 * params.GWei),
				Gas: 21000, To: &to, Value: big.NewInt(1),
			})
			blocks[i][k] = coretypes.Tx{Namespace: Namespace, Payload: mustBin(tx), Sender: senders[k]}
		}
	}
	var wal uint64
	if walBytes != nil {
		wal = walBytes()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.c.Execute(execBlock(uint64(i+1), blocks[i])); err != nil {
			b.Fatal(err)
		}
	}
	if err := flushHead(s.c); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := len(s.c.CurrentHeader().Hash()); n == 0 || len(s.c.BlockByNumber(uint64(b.N)).Transactions()) != txs {
		b.Fatal("transactions excluded")
	}
	b.ReportMetric(float64(b.N*txs)/b.Elapsed().Seconds(), "tx/s")
	if walBytes != nil {
		b.ReportMetric(float64(walBytes()-wal)/float64(b.N), "wal-B/op")
	}
}

// BenchmarkSendTransaction runs the ingress on 1000 transactions from 1000
// accounts per iteration, from as many goroutines as there are CPUs. It
// includes the signature recovery.
func BenchmarkSendTransaction(b *testing.B) {
	s := newSim(b, nil, testConfig(benchAccounts))
	to := common.HexToAddress("0xbeef")
	rounds := make([][]*types.Transaction, b.N)
	for i := range rounds {
		for k := 1; k <= benchAccounts; k++ {
			rounds[i] = append(rounds[i], s.transfer(key(k), uint64(i), to, big.NewInt(1)))
		}
	}
	workers := max(1, runtimeCPUs())
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for j := w; j < len(rounds[i]); j += workers {
					if err := s.c.SendTransaction(context.Background(), rounds[i][j]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	if got := len(s.submitted()); got != b.N*benchAccounts {
		b.Fatalf("submitted %d", got)
	}
	b.ReportMetric(float64(b.N*benchAccounts)/b.Elapsed().Seconds(), "tx/s")
}
