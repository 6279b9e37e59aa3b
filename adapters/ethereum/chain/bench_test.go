package chain

import (
	"context"
	"math/big"
	"sync"
	"testing"

	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

const benchAccounts = 1000

// BenchmarkExecuteTransfers executes blocks of 1000 transfers from 1000
// accounts, with the ingress's senders (no signature recovery), each block
// committed to the database.
func BenchmarkExecuteTransfers(b *testing.B) {
	cfg := testConfig(benchAccounts)
	cfg.TrieCacheBytes = 64 << 20
	s := newSim(b, nil, cfg)
	to := common.HexToAddress("0xbeef")
	blocks := make([][]coretypes.Tx, b.N)
	for i := range blocks {
		var txs []*types.Transaction
		for k := 1; k <= benchAccounts; k++ {
			txs = append(txs, s.transfer(key(k), uint64(i), to, big.NewInt(1)))
		}
		blocks[i] = s.txsFor(nil, txs...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.c.Execute(execBlock(uint64(i+1), blocks[i])); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := len(s.c.CurrentHeader().Hash()); n == 0 || len(s.c.BlockByNumber(uint64(b.N)).Transactions()) != benchAccounts {
		b.Fatal("transactions excluded")
	}
	b.ReportMetric(float64(b.N*benchAccounts)/b.Elapsed().Seconds(), "tx/s")
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
