package loadgen

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
)

// readBatch is the size of batched reads (nonces, receipts) during setup.
const readBatch = 100

// chainParams reads the chain id and the fees to sign with.
func chainParams(ctx context.Context, c *rpc.Client, timeout time.Duration) (*big.Int, fees, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var chainID hexutil.Big
	if err := c.CallContext(cctx, &chainID, "eth_chainId"); err != nil {
		return nil, fees{}, fmt.Errorf("loadgen: eth_chainId: %w", err)
	}
	var latest struct {
		BaseFee *hexutil.Big `json:"baseFeePerGas"`
	}
	if err := c.CallContext(cctx, &latest, "eth_getBlockByNumber", "latest", false); err != nil {
		return nil, fees{}, fmt.Errorf("loadgen: latest block: %w", err)
	}
	if latest.BaseFee == nil {
		var price hexutil.Big
		if err := c.CallContext(cctx, &price, "eth_gasPrice"); err != nil {
			return nil, fees{}, fmt.Errorf("loadgen: eth_gasPrice: %w", err)
		}
		return chainID.ToInt(), newFees(nil, nil, price.ToInt()), nil
	}
	var tip hexutil.Big
	if err := c.CallContext(cctx, &tip, "eth_maxPriorityFeePerGas"); err != nil {
		return nil, fees{}, fmt.Errorf("loadgen: eth_maxPriorityFeePerGas: %w", err)
	}
	return chainID.ToInt(), newFees(latest.BaseFee.ToInt(), tip.ToInt(), nil), nil
}

// fundAmount is what an account needs to send perAccount transfers of 1 wei
// at the worst fee the transfers allow.
func fundAmount(perAccount int, f fees) *big.Int {
	each := new(big.Int).Mul(f.maxPrice(), big.NewInt(transferGas))
	each.Add(each, big.NewInt(1))
	return each.Mul(each, big.NewInt(int64(perAccount)))
}

// fund pays amount to every key's address from funder, sends the transfers
// in order in batches, and waits until all have committed with status 1.
func fund(ctx context.Context, c *rpc.Client, funder *ecdsa.PrivateKey, keys []*ecdsa.PrivateKey, amount *big.Int,
	chainID *big.Int, f fees, batch int, cfg Config, log *slog.Logger) error {
	from := crypto.PubkeyToAddress(funder.PublicKey)
	var nonce hexutil.Uint64
	var balance hexutil.Big
	cctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	err := c.BatchCallContext(cctx, []rpc.BatchElem{
		{Method: "eth_getTransactionCount", Args: []any{from, "pending"}, Result: &nonce},
		{Method: "eth_getBalance", Args: []any{from, "latest"}, Result: &balance},
	})
	cancel()
	if err != nil {
		return fmt.Errorf("%w: read funder %s: %w", ErrFunding, from, err)
	}
	perTx := new(big.Int).Mul(f.maxPrice(), big.NewInt(transferGas))
	perTx.Add(perTx, amount)
	need := new(big.Int).Mul(perTx, big.NewInt(int64(len(keys))))
	if balance.ToInt().Cmp(need) < 0 {
		return fmt.Errorf("%w: funder %s has %s wei, needs %s", ErrFunding, from, balance.ToInt(), need)
	}

	signer := types.LatestSignerForChainID(chainID)
	hashes := make([]common.Hash, len(keys))
	raw := make([]string, len(keys))
	for i, k := range keys {
		tx, err := types.SignNewTx(funder, signer, f.tx(chainID, uint64(nonce)+uint64(i), crypto.PubkeyToAddress(k.PublicKey), amount))
		if err != nil {
			return fmt.Errorf("%w: sign: %w", ErrFunding, err)
		}
		b, err := tx.MarshalBinary()
		if err != nil {
			return fmt.Errorf("%w: encode: %w", ErrFunding, err)
		}
		hashes[i], raw[i] = tx.Hash(), hexutil.Encode(b)
	}
	log.Info("loadgen: funding accounts", "accounts", len(keys), "wei_each", amount, "funder", from)
	// One request at a time, so the funder's nonces arrive in order.
	for lo := 0; lo < len(raw); lo += batch {
		hi := min(lo+batch, len(raw))
		elems := make([]rpc.BatchElem, hi-lo)
		for i := range elems {
			elems[i] = rpc.BatchElem{Method: "eth_sendRawTransaction", Args: []any{raw[lo+i]}, Result: new(common.Hash)}
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
		err := c.BatchCallContext(cctx, elems)
		cancel()
		if err != nil {
			return fmt.Errorf("%w: send: %w", ErrFunding, err)
		}
		for i, e := range elems {
			if e.Error != nil {
				return fmt.Errorf("%w: transfer to account %d: %w", ErrFunding, lo+i, e.Error)
			}
		}
	}

	// The funder's mined nonce passing the last transfer means all of them
	// are in blocks; then check that each succeeded.
	target := uint64(nonce) + uint64(len(keys))
	deadline := time.Now().Add(cfg.FundTimeout)
	for {
		var mined hexutil.Uint64
		cctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
		err := c.CallContext(cctx, &mined, "eth_getTransactionCount", from, "latest")
		cancel()
		if err != nil {
			return fmt.Errorf("%w: read funder nonce: %w", ErrFunding, err)
		}
		if uint64(mined) >= target {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d transfers committed after %s", ErrFunding,
				max(0, int64(mined)-int64(nonce)), len(keys), cfg.FundTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrFunding, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return checkReceipts(ctx, c, hashes, cfg.RequestTimeout)
}

// receipt is the part of a receipt we check.
type receipt struct {
	Status hexutil.Uint64 `json:"status"`
}

// checkReceipts returns an error unless every hash has a receipt with status 1.
func checkReceipts(ctx context.Context, c *rpc.Client, hashes []common.Hash, timeout time.Duration) error {
	for lo := 0; lo < len(hashes); lo += readBatch {
		hi := min(lo+readBatch, len(hashes))
		rs := make([]*receipt, hi-lo)
		elems := make([]rpc.BatchElem, hi-lo)
		for i := range elems {
			elems[i] = rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{hashes[lo+i]}, Result: &rs[i]}
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.BatchCallContext(cctx, elems)
		cancel()
		if err != nil {
			return fmt.Errorf("%w: receipts: %w", ErrFunding, err)
		}
		for i, e := range elems {
			switch {
			case e.Error != nil:
				return fmt.Errorf("%w: receipt of %s: %w", ErrFunding, hashes[lo+i], e.Error)
			case rs[i] == nil:
				return fmt.Errorf("%w: no receipt for %s", ErrFunding, hashes[lo+i])
			case rs[i].Status != 1:
				return fmt.Errorf("%w: transfer %s failed (status %d)", ErrFunding, hashes[lo+i], rs[i].Status)
			}
		}
	}
	return nil
}

// pendingNonces reads the next nonce of every key's address.
func pendingNonces(ctx context.Context, c *rpc.Client, keys []*ecdsa.PrivateKey, timeout time.Duration) ([]uint64, error) {
	out := make([]uint64, len(keys))
	for lo := 0; lo < len(keys); lo += readBatch {
		hi := min(lo+readBatch, len(keys))
		ns := make([]hexutil.Uint64, hi-lo)
		elems := make([]rpc.BatchElem, hi-lo)
		for i := range elems {
			addr := crypto.PubkeyToAddress(keys[lo+i].PublicKey)
			elems[i] = rpc.BatchElem{Method: "eth_getTransactionCount", Args: []any{addr, "pending"}, Result: &ns[i]}
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := c.BatchCallContext(cctx, elems)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("loadgen: read nonces: %w", err)
		}
		for i, e := range elems {
			if e.Error != nil {
				return nil, fmt.Errorf("loadgen: nonce of account %d: %w", lo+i, e.Error)
			}
			out[lo+i] = uint64(ns[i])
		}
	}
	return out, nil
}
