package loadgen

import (
	"crypto/ecdsa"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// transferGas is the intrinsic gas of a plain value transfer.
const transferGas = 21000

// fees are the fee fields every transfer of a run carries. When BaseFee is
// nil the node is pre-London and transfers are legacy with GasPrice.
type fees struct {
	BaseFee  *big.Int
	Tip      *big.Int
	FeeCap   *big.Int // 2*BaseFee + Tip
	GasPrice *big.Int // legacy only
}

func newFees(baseFee, tip, gasPrice *big.Int) fees {
	if baseFee == nil {
		return fees{GasPrice: new(big.Int).Set(gasPrice)}
	}
	feeCap := new(big.Int).Mul(baseFee, big.NewInt(2))
	feeCap.Add(feeCap, tip)
	return fees{BaseFee: new(big.Int).Set(baseFee), Tip: new(big.Int).Set(tip), FeeCap: feeCap}
}

// maxPrice is the most one unit of gas can cost.
func (f fees) maxPrice() *big.Int {
	if f.FeeCap != nil {
		return f.FeeCap
	}
	return f.GasPrice
}

func (f fees) tx(chainID *big.Int, nonce uint64, to common.Address, value *big.Int) types.TxData {
	if f.FeeCap == nil {
		return &types.LegacyTx{Nonce: nonce, GasPrice: f.GasPrice, Gas: transferGas, To: &to, Value: value}
	}
	return &types.DynamicFeeTx{ChainID: chainID, Nonce: nonce, GasTipCap: f.Tip, GasFeeCap: f.FeeCap,
		Gas: transferGas, To: &to, Value: value}
}

// senderKeys derives n reproducible keys from seed: keccak256 of a domain
// tag, the seed and the index (rehashed in the negligible case the digest is
// not a valid scalar).
func senderKeys(seed uint64, n int) []*ecdsa.PrivateKey {
	keys := make([]*ecdsa.PrivateKey, n)
	buf := make([]byte, 0, 32)
	for i := range keys {
		buf = append(buf[:0], "coco-loadgen"...)
		buf = binary.BigEndian.AppendUint64(buf, seed)
		buf = binary.BigEndian.AppendUint64(buf, uint64(i))
		d := crypto.Keccak256(buf)
		for {
			k, err := crypto.ToECDSA(d)
			if err == nil {
				keys[i] = k
				break
			}
			d = crypto.Keccak256(d)
		}
	}
	return keys
}

// plan is the pre-signed work of a run. Transactions are indexed 0..n-1;
// streams[k] lists, in send order, the indices that go to endpoint k.
type plan struct {
	raw     []string // 0x-hex of the signed transaction
	hashes  []common.Hash
	from    []int32 // sender account index
	nonces  []uint64
	streams [][]int32
}

func (p *plan) len() int { return len(p.raw) }

// presign signs perAccount transfers of 1 wei for each key, nonces
// consecutive from nonces[a], on all cores. With recipients == 0 every
// transfer goes to a new random address (every transaction creates an
// account); otherwise to one of that many random addresses. Account a sends only
// to endpoint a%endpoints; each stream interleaves its accounts round by
// round, so an account's next nonce comes as late as possible.
func presign(keys []*ecdsa.PrivateKey, nonces []uint64, perAccount, endpoints, recipients int, chainID *big.Int, f fees, seed uint64) (*plan, error) {
	if len(keys) != len(nonces) {
		return nil, fmt.Errorf("loadgen: %d keys, %d nonces", len(keys), len(nonces))
	}
	if endpoints < 1 || len(keys) < endpoints {
		return nil, fmt.Errorf("%w: %d accounts for %d endpoints", ErrConfig, len(keys), endpoints)
	}
	n := len(keys) * perAccount
	p := &plan{
		raw:     make([]string, n),
		hashes:  make([]common.Hash, n),
		from:    make([]int32, n),
		nonces:  make([]uint64, n),
		streams: make([][]int32, endpoints),
	}
	to := make([]common.Address, n)
	rng := rand.New(rand.NewPCG(seed, 0x6c6f616467656e)) // "loadgen"
	randomAddress := func() (a common.Address) {
		for j := 0; j < common.AddressLength; j += 8 {
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], rng.Uint64())
			copy(a[j:], w[:])
		}
		return a
	}
	pool := make([]common.Address, recipients)
	for j := range pool {
		pool[j] = randomAddress()
	}
	i := int32(0)
	for k := range endpoints {
		p.streams[k] = make([]int32, 0, (len(keys)/endpoints+1)*perAccount)
		for r := range perAccount {
			for a := k; a < len(keys); a += endpoints {
				p.from[i] = int32(a)
				p.nonces[i] = nonces[a] + uint64(r)
				if recipients == 0 {
					to[i] = randomAddress()
				} else {
					to[i] = pool[rng.IntN(recipients)]
				}
				p.streams[k] = append(p.streams[k], i)
				i++
			}
		}
	}

	signer := types.LatestSignerForChainID(chainID)
	value := big.NewInt(1)
	workers := min(runtime.GOMAXPROCS(0), max(1, n))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for j := w; j < n; j += workers {
				tx, err := types.SignNewTx(keys[p.from[j]], signer, f.tx(chainID, p.nonces[j], to[j], value))
				if err != nil {
					errs[w] = fmt.Errorf("loadgen: sign: %w", err)
					return
				}
				raw, err := tx.MarshalBinary()
				if err != nil {
					errs[w] = fmt.Errorf("loadgen: encode: %w", err)
					return
				}
				p.raw[j] = hexutil.Encode(raw)
				p.hashes[j] = tx.Hash()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}
