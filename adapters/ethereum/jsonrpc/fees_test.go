package jsonrpc

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/params"
)

func TestGasPriceAndTip(t *testing.T) {
	e := newEnv(t)
	// No transactions yet: go-ethereum's default suggestion.
	tip, err := e.eth.SuggestGasTipCap(ctx(t))
	if err != nil || tip.Cmp(defaultTip) != 0 {
		t.Fatalf("tip %v, %v; want %v", tip, err, defaultTip)
	}
	to := e.addrs[1]
	e.send(0, &to, big.NewInt(1), nil, 21000) // 1 gwei tip
	e.mine()
	tip, _ = e.eth.SuggestGasTipCap(ctx(t))
	if tip.Cmp(big.NewInt(params.GWei)) != 0 {
		t.Fatalf("tip after a 1 gwei block = %v", tip)
	}
	price, err := e.eth.SuggestGasPrice(ctx(t))
	if want := new(big.Int).Add(tip, e.chain.CurrentHeader().BaseFee); err != nil || price.Cmp(want) != 0 {
		t.Fatalf("gas price %v, %v; want base fee + tip = %v", price, err, want)
	}
}

func TestFeeHistory(t *testing.T) {
	e := newEnv(t)
	to := e.addrs[1]
	e.send(0, &to, big.NewInt(1), nil, 21000)
	e.mine()
	e.mine()
	baseFee := e.chain.CurrentHeader().BaseFee

	// blockCount as a hex string and as a JSON number.
	for _, count := range []any{"0x2", 2} {
		var res struct {
			OldestBlock      hexutil.Big      `json:"oldestBlock"`
			Reward           [][]*hexutil.Big `json:"reward"`
			BaseFee          []*hexutil.Big   `json:"baseFeePerGas"`
			GasUsedRatio     []float64        `json:"gasUsedRatio"`
			BlobBaseFee      []*hexutil.Big   `json:"baseFeePerBlobGas"`
			BlobGasUsedRatio []float64        `json:"blobGasUsedRatio"`
		}
		e.mustCall(&res, "eth_feeHistory", count, "latest", []float64{25, 75})
		if res.OldestBlock.ToInt().Int64() != 1 {
			t.Errorf("count %v: oldest %v; want 1", count, res.OldestBlock.ToInt())
		}
		if len(res.BaseFee) != 3 || len(res.GasUsedRatio) != 2 || len(res.Reward) != 2 || len(res.BlobBaseFee) != 3 || len(res.BlobGasUsedRatio) != 2 {
			t.Fatalf("count %v: lengths base %d used %d reward %d blob %d/%d", count, len(res.BaseFee), len(res.GasUsedRatio), len(res.Reward), len(res.BlobBaseFee), len(res.BlobGasUsedRatio))
		}
		for i, f := range res.BaseFee {
			if f.ToInt().Cmp(baseFee) != 0 {
				t.Errorf("base fee %d = %v; want %v", i, f.ToInt(), baseFee)
			}
		}
		// Block 1 has the 1 gwei-tip transfer, block 2 nothing.
		if res.GasUsedRatio[0] == 0 || res.GasUsedRatio[1] != 0 {
			t.Errorf("gas used ratios %v", res.GasUsedRatio)
		}
		if len(res.Reward[0]) != 2 || res.Reward[0][0].ToInt().Int64() != params.GWei || res.Reward[1][1].ToInt().Sign() != 0 {
			t.Errorf("rewards %v", res.Reward)
		}
	}
	// ethclient decodes it too.
	fh, err := e.eth.FeeHistory(ctx(t), 10, nil, nil)
	if err != nil || fh.OldestBlock.Int64() != 0 || len(fh.BaseFee) != 4 || len(fh.GasUsedRatio) != 3 || len(fh.Reward) != 0 {
		t.Fatalf("fee history over the whole chain: %+v, %v", fh, err)
	}
	err = e.call(new(map[string]any), "eth_feeHistory", "0x1", "0x99", []float64{})
	if _, msg, _ := rpcErr(t, err); !startsWith(msg, "request beyond head block") {
		t.Errorf("beyond head: %q", msg)
	}
	err = e.call(new(map[string]any), "eth_feeHistory", "0x1", "latest", []float64{50, 10})
	if _, msg, _ := rpcErr(t, err); !startsWith(msg, "invalid reward percentile") {
		t.Errorf("decreasing percentiles: %q", msg)
	}
}
