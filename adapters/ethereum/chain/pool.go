package chain

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/cocoledger/coco/core/batch"
	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/txpool/legacypool"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

var (
	// ErrUnprotectedTx is go-ethereum's refusal of legacy transactions
	// without EIP-155 replay protection.
	ErrUnprotectedTx = errors.New("only replay-protected (EIP-155) transactions allowed over RPC")
	// ErrNoSubmitter means the chain was opened without a Submitter and
	// cannot accept transactions.
	ErrNoSubmitter = errors.New("this node does not accept transactions")

	errBlobTx = errors.New("blob transactions are not supported")
)

// priceBump is the minimum fee increase, in percent, to replace a
// transaction with the same nonce (go-ethereum's default).
const priceBump = 10

// maxQueued bounds the transactions held locally for nonce gaps, over all
// senders.
const maxQueued = 16384

// SendTransaction runs go-ethereum's ingress checks, in go-ethereum's order
// and with its error values, and submits tx to the node's mempool. A
// transaction whose nonce leaves a gap is held here and submitted once the
// gap is filled, so that it is never ordered before its predecessors.
func (c *Chain) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	err := c.sendTransaction(ctx, tx)
	if err != nil {
		txsRejected.Inc()
	} else {
		txsAccepted.Inc()
	}
	return err
}

func (c *Chain) sendTransaction(ctx context.Context, tx *types.Transaction) error {
	if c.submit == nil {
		return ErrNoSubmitter
	}
	if !c.cfg.AllowUnprotected && !tx.Protected() {
		return ErrUnprotectedTx
	}
	if tx.Type() == types.BlobTxType {
		return fmt.Errorf("%w: %w", core.ErrTxTypeNotSupported, errBlobTx)
	}
	// Like go-ethereum's txpool, "already known" means pending here; a
	// committed transaction sent again fails the nonce check instead
	// ("nonce too low"), which clients map to NONCE_EXPIRED. It also keeps a
	// database read off the ingress hot path.
	if c.pool.has(tx.Hash()) {
		return txpool.ErrAlreadyKnown
	}
	from, err := c.validate(tx)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.pool.add(tx, from)
}

// validate is txpool.ValidateTransaction for this chain's head, plus the
// base fee check that go-ethereum defers to block building: the base fee is
// constant here, so a transaction below it could never be included.
func (c *Chain) validate(tx *types.Transaction) (common.Address, error) {
	if size := tx.Size(); size > c.cfg.MaxTxSize {
		return common.Address{}, fmt.Errorf("%w: transaction size %v, limit %v", txpool.ErrOversizedData, size, c.cfg.MaxTxSize)
	}
	head := c.head.Load()
	number := new(big.Int).Add(head.Number, common.Big1)
	rules := c.config.Rules(number, true, head.Time)
	if tx.To() == nil {
		if err := vm.CheckMaxInitCodeSize(&rules, uint64(len(tx.Data()))); err != nil {
			return common.Address{}, err
		}
	}
	if rules.IsOsaka && tx.Gas() > params.MaxTxGas {
		return common.Address{}, fmt.Errorf("%w (cap: %d, tx: %d)", core.ErrGasLimitTooHigh, params.MaxTxGas, tx.Gas())
	}
	if tx.Value().Sign() < 0 {
		return common.Address{}, txpool.ErrNegativeValue
	}
	if c.GasLimit() < tx.Gas() {
		return common.Address{}, txpool.ErrGasLimit
	}
	if tx.GasFeeCap().BitLen() > 256 {
		return common.Address{}, core.ErrFeeCapVeryHigh
	}
	if tx.GasTipCap().BitLen() > 256 {
		return common.Address{}, core.ErrTipVeryHigh
	}
	if tx.GasFeeCapIntCmp(tx.GasTipCap()) < 0 {
		return common.Address{}, core.ErrTipAboveFeeCap
	}
	// The one signature recovery of the transaction's life: Execute trusts
	// the sender submitted with it.
	from, err := types.Sender(c.signer, tx)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %w", txpool.ErrInvalidSender, err)
	}
	if tx.Nonce()+1 < tx.Nonce() {
		return common.Address{}, core.ErrNonceMax
	}
	value, overflow := uint256.FromBig(tx.Value())
	if overflow {
		return common.Address{}, core.ErrInsufficientFunds
	}
	intrGas, err := core.IntrinsicGas(tx.Data(), tx.AccessList(), tx.SetCodeAuthorizations(), from, tx.To(), value, rules)
	if err != nil {
		return common.Address{}, err
	}
	if tx.Gas() < intrGas {
		return common.Address{}, fmt.Errorf("%w: gas %v, minimum needed %v", core.ErrIntrinsicGas, tx.Gas(), intrGas)
	}
	if rules.IsPrague {
		floor, err := core.FloorDataGas(rules, from, tx.To(), value, tx.Data(), tx.AccessList())
		if err != nil {
			return common.Address{}, err
		}
		if tx.Gas() < floor {
			return common.Address{}, fmt.Errorf("%w: gas %v, minimum needed %v", core.ErrFloorDataGas, tx.Gas(), floor)
		}
	}
	if tx.Type() == types.SetCodeTxType && len(tx.SetCodeAuthorizations()) == 0 {
		return common.Address{}, errors.New("set code tx must have at least one authorization tuple")
	}
	if tx.GasFeeCapIntCmp(c.cfg.BaseFee) < 0 {
		return common.Address{}, fmt.Errorf("%w: address %v, maxFeePerGas: %s, baseFee: %s", core.ErrFeeCapTooLow, from.Hex(), tx.GasFeeCap(), c.cfg.BaseFee)
	}
	return from, nil
}

// PendingNonce is the next nonce for addr counting submitted transactions
// not yet in a block.
func (c *Chain) PendingNonce(addr common.Address) (uint64, error) {
	return c.pool.pendingNonce(addr)
}

// PendingTransaction finds a transaction accepted by this node and not yet
// in a block (submitted, or held for a nonce gap); nil when unknown.
func (c *Chain) PendingTransaction(hash common.Hash) *types.Transaction {
	return c.pool.get(hash)
}

// view is the head state the pool checks nonces and balances against.
type view struct {
	number uint64
	reader state.Reader
}

func (c *Chain) newView(h *types.Header) (*view, error) {
	r, err := c.sdb.Reader(h.Root)
	if err != nil {
		return nil, err
	}
	return &view{number: h.Number.Uint64(), reader: r}, nil
}

// account returns addr's nonce and balance in this view.
func (v *view) account(addr common.Address) (uint64, *big.Int, error) {
	acc, err := v.reader.Account(addr)
	if err != nil {
		return 0, nil, fmt.Errorf("read account %v: %w", addr, err)
	}
	if acc == nil {
		return 0, new(big.Int), nil
	}
	return acc.Nonce, acc.Balance.ToBig(), nil
}

// entry is one transaction the pool knows.
type entry struct {
	tx     *types.Transaction
	from   common.Address
	cost   *big.Int
	queued bool // held for a nonce gap, not submitted
}

// account is the pool's state for one sender.
type account struct {
	// submitMu serialises acceptance and submission of this sender's
	// transactions so that they reach the mempool in nonce order.
	submitMu sync.Mutex
	// Guarded by pool.mu.
	refs    int // goroutines using this account; it is deleted only at zero
	pending map[uint64]*entry
	queued  map[uint64]*entry
}

// pendingNonce is the first nonce from stateNonce not taken by a submitted
// transaction.
func (a *account) pendingNonce(stateNonce uint64) uint64 {
	n := stateNonce
	for a.pending[n] != nil {
		n++
	}
	return n
}

// spent is the cost of the transactions this sender has in the pool that
// can still execute.
func (a *account) spent(stateNonce uint64) *big.Int {
	sum := new(big.Int)
	for n, e := range a.pending {
		if n >= stateNonce {
			sum.Add(sum, e.cost)
		}
	}
	for n, e := range a.queued {
		if n >= stateNonce {
			sum.Add(sum, e.cost)
		}
	}
	return sum
}

// pool tracks the transactions this node accepted until they are in a
// block: submitted ones (pending) and gapped ones held back (queued).
type pool struct {
	c  *Chain
	mu sync.Mutex
	// Guarded by mu.
	view     *view
	accounts map[common.Address]*account
	all      map[common.Hash]*entry
	nqueued  int

	bg sync.WaitGroup // promotions running after a block
}

func newPool(c *Chain, v *view) *pool {
	return &pool{c: c, view: v, accounts: make(map[common.Address]*account), all: make(map[common.Hash]*entry)}
}

func (p *pool) wait() { p.bg.Wait() }

func (p *pool) has(hash common.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all[hash] != nil
}

func (p *pool) get(hash common.Hash) *types.Transaction {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.all[hash]; e != nil {
		return e.tx
	}
	return nil
}

// stateOf reads addr's nonce and balance at the current view and returns
// with p.mu held and the view unchanged since the read. The trie read itself
// happens outside the lock.
func (p *pool) stateOf(addr common.Address) (uint64, *big.Int, error) {
	for {
		p.mu.Lock()
		v := p.view
		p.mu.Unlock()
		nonce, balance, err := v.account(addr)
		if err != nil {
			return 0, nil, err
		}
		p.mu.Lock()
		if p.view == v {
			return nonce, balance, nil
		}
		p.mu.Unlock()
	}
}

func (p *pool) pendingNonce(addr common.Address) (uint64, error) {
	nonce, _, err := p.stateOf(addr)
	if err != nil {
		return 0, err
	}
	defer p.mu.Unlock()
	if a := p.accounts[addr]; a != nil {
		return a.pendingNonce(nonce), nil
	}
	return nonce, nil
}

// acquire returns addr's account, creating it, and pins it until release.
func (p *pool) acquire(addr common.Address) *account {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accounts[addr]
	if a == nil {
		a = &account{pending: make(map[uint64]*entry), queued: make(map[uint64]*entry)}
		p.accounts[addr] = a
	}
	a.refs++
	return a
}

func (p *pool) release(addr common.Address, a *account) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a.refs--
	p.forgetLocked(addr, a)
}

// forgetLocked drops an account that holds nothing and that nobody uses.
func (p *pool) forgetLocked(addr common.Address, a *account) {
	if a.refs == 0 && len(a.pending) == 0 && len(a.queued) == 0 {
		delete(p.accounts, addr)
	}
}

// add runs the stateful checks and submits tx, with the sender's queued
// transactions it makes contiguous.
func (p *pool) add(tx *types.Transaction, from common.Address) error {
	if g, ok := p.c.submit.(admitter); ok {
		if err := g.Admit(); err != nil {
			return err
		}
	}
	a := p.acquire(from)
	a.submitMu.Lock()
	defer p.release(from, a)
	defer a.submitMu.Unlock()

	nonce, balance, err := p.stateOf(from)
	if err != nil {
		return err
	}
	e := &entry{tx: tx, from: from, cost: tx.Cost()}
	replaced, err := p.insertLocked(a, e, nonce, balance)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	if e.queued {
		p.mu.Unlock()
		return nil
	}
	out := append([]*entry{e}, p.promoteLocked(a, a.pendingNonce(nonce))...)
	p.mu.Unlock()

	n, err := p.submit(out)
	if n == 0 {
		p.mu.Lock()
		p.unsubmitLocked(a, out)
		if replaced != nil {
			p.restoreLocked(a, replaced)
		}
		p.mu.Unlock()
		return err
	}
	if err != nil {
		p.c.log.Warn("queued transactions not submitted", "from", from, "count", len(out)-n, "err", err)
		p.mu.Lock()
		p.requeueLocked(a, out[n:])
		p.mu.Unlock()
	}
	return nil
}

// insertLocked checks e against the sender's state and pool entries and
// places it in pending (nonce at or below the pending nonce) or queued
// (gapped). It returns the entry e replaces, if any.
func (p *pool) insertLocked(a *account, e *entry, stateNonce uint64, balance *big.Int) (*entry, error) {
	tx := e.tx
	n := tx.Nonce()
	if p.all[tx.Hash()] != nil {
		return nil, txpool.ErrAlreadyKnown
	}
	if n < stateNonce {
		return nil, fmt.Errorf("%w: next nonce %v, tx nonce %v", core.ErrNonceTooLow, stateNonce, n)
	}
	p.dropStaleLocked(a, stateNonce)
	pending := a.pendingNonce(stateNonce)
	if n > pending+p.c.cfg.NonceGapLimit {
		return nil, fmt.Errorf("%w: tx nonce %v, pending nonce %v, gap limit %v", core.ErrNonceTooHigh, n, pending, p.c.cfg.NonceGapLimit)
	}
	if balance.Cmp(e.cost) < 0 {
		return nil, fmt.Errorf("%w: balance %v, tx cost %v, overshot %v", core.ErrInsufficientFunds, balance, e.cost, new(big.Int).Sub(e.cost, balance))
	}
	spent := a.spent(stateNonce)
	prev := a.pending[n]
	if prev == nil {
		prev = a.queued[n]
	}
	if prev != nil {
		bump := new(big.Int).Sub(e.cost, prev.cost)
		need := new(big.Int).Add(spent, bump)
		if balance.Cmp(need) < 0 {
			return nil, fmt.Errorf("%w: balance %v, queued cost %v, tx bumped %v, overshot %v", core.ErrInsufficientFunds, balance, spent, bump, new(big.Int).Sub(need, balance))
		}
		if !bumps(prev.tx, tx) {
			return nil, txpool.ErrReplaceUnderpriced
		}
	} else {
		need := new(big.Int).Add(spent, e.cost)
		if balance.Cmp(need) < 0 {
			return nil, fmt.Errorf("%w: balance %v, queued cost %v, tx cost %v, overshot %v", core.ErrInsufficientFunds, balance, spent, e.cost, new(big.Int).Sub(need, balance))
		}
		if n > pending && p.nqueued >= maxQueued {
			return nil, legacypool.ErrTxPoolOverflow
		}
	}
	if prev != nil {
		p.removeLocked(a, prev)
	}
	e.queued = n > pending
	if e.queued {
		a.queued[n] = e
		p.nqueued++
	} else {
		a.pending[n] = e
	}
	p.all[tx.Hash()] = e
	return prev, nil
}

// bumps reports whether next may replace prev: both its fee cap and tip at
// least priceBump percent higher, as go-ethereum's legacy pool requires.
func bumps(prev, next *types.Transaction) bool {
	if prev.GasFeeCapCmp(next) >= 0 || prev.GasTipCapCmp(next) >= 0 {
		return false
	}
	a := big.NewInt(100 + priceBump)
	feeCap := new(big.Int).Mul(a, prev.GasFeeCap())
	tip := new(big.Int).Mul(a, prev.GasTipCap())
	feeCap.Div(feeCap, big.NewInt(100))
	tip.Div(tip, big.NewInt(100))
	return next.GasFeeCapIntCmp(feeCap) >= 0 && next.GasTipCapIntCmp(tip) >= 0
}

// promoteLocked moves the queued transactions contiguous from nonce to
// pending and returns them in nonce order, to be submitted.
func (p *pool) promoteLocked(a *account, nonce uint64) []*entry {
	var out []*entry
	for e := a.queued[nonce]; e != nil; e = a.queued[nonce] {
		delete(a.queued, nonce)
		p.nqueued--
		e.queued = false
		a.pending[nonce] = e
		out = append(out, e)
		nonce++
	}
	return out
}

// requeueLocked moves promoted entries whose submission failed back to queued.
func (p *pool) requeueLocked(a *account, es []*entry) {
	for _, e := range es {
		n := e.tx.Nonce()
		if a.pending[n] != e {
			continue
		}
		delete(a.pending, n)
		e.queued = true
		a.queued[n] = e
		p.nqueued++
	}
}

// unsubmitLocked forgets entries whose submission failed: the first is the
// rejected transaction, the rest go back to queued.
func (p *pool) unsubmitLocked(a *account, es []*entry) {
	p.removeLocked(a, es[0])
	p.requeueLocked(a, es[1:])
}

// restoreLocked puts back an entry that a rejected transaction replaced.
func (p *pool) restoreLocked(a *account, e *entry) {
	n := e.tx.Nonce()
	if e.queued {
		if a.queued[n] != nil {
			return
		}
		a.queued[n] = e
		p.nqueued++
	} else {
		if a.pending[n] != nil {
			return
		}
		a.pending[n] = e
	}
	p.all[e.tx.Hash()] = e
}

// removeLocked forgets e if it is still in place.
func (p *pool) removeLocked(a *account, e *entry) {
	n := e.tx.Nonce()
	if e.queued {
		if a.queued[n] == e {
			delete(a.queued, n)
			p.nqueued--
		}
	} else if a.pending[n] == e {
		delete(a.pending, n)
	}
	if p.all[e.tx.Hash()] == e {
		delete(p.all, e.tx.Hash())
	}
}

// dropStaleLocked forgets entries below the state nonce: they are in a
// block already, or can never be.
func (p *pool) dropStaleLocked(a *account, stateNonce uint64) {
	for n, e := range a.pending {
		if n < stateNonce {
			p.removeLocked(a, e)
		}
	}
	for n, e := range a.queued {
		if n < stateNonce {
			p.removeLocked(a, e)
		}
	}
}

// submit hands entries to the mempool in order and returns how many it took.
func (p *pool) submit(es []*entry) (int, error) {
	sent := make([]*types.Transaction, 0, len(es))
	var err error
	for _, e := range es {
		var bin []byte
		if bin, err = e.tx.MarshalBinary(); err != nil {
			err = fmt.Errorf("encode transaction: %w", err)
			break
		}
		if err = p.c.submit.Submit(coretypes.Tx{Namespace: Namespace, Payload: bin, Sender: e.from.Bytes()}); err != nil {
			err = submitError(err)
			break
		}
		sent = append(sent, e.tx)
	}
	if len(sent) > 0 {
		p.c.pendingFeed.Send(sent)
	}
	return len(sent), err
}

// admitter is implemented by a mempool that can refuse users'
// transactions as a whole, such as a node whose network governance has not
// opened.
type admitter interface{ Admit() error }

// submitError maps the mempool's refusals to go-ethereum's txpool errors,
// which clients recognise.
func submitError(err error) error {
	switch {
	case errors.Is(err, batch.ErrPoolFull):
		return legacypool.ErrTxPoolOverflow
	case errors.Is(err, batch.ErrTooLarge):
		return fmt.Errorf("%w: %v", txpool.ErrOversizedData, err)
	default:
		return fmt.Errorf("submit transaction: %w", err)
	}
}

// onBlock updates the pool after a committed block: the new head view,
// included transactions forgotten, excluded ones dropped with the sender's
// later pending transactions (they cannot execute before a refill), and
// queued transactions that the block made contiguous submitted in the
// background (Execute must never wait on the mempool). nonces holds the
// state nonce after the block of every sender in it.
func (p *pool) onBlock(v *view, included []executed, dropped []excluded, nonces map[common.Address]uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.view = v
	if len(p.all) == 0 {
		return
	}
	for _, x := range included {
		if e := p.all[x.tx.Hash()]; e != nil {
			if a := p.accounts[e.from]; a != nil {
				p.removeLocked(a, e)
			}
		}
	}
	for _, x := range dropped {
		if !x.known {
			continue
		}
		e := p.all[x.hash]
		a := p.accounts[x.from]
		if e == nil || a == nil || e.queued {
			continue
		}
		if next, ok := nonces[x.from]; ok && x.nonce > next {
			// Ordered ahead of a predecessor (batches from several nodes, or
			// a view change, reorder them): hold it again and resubmit it
			// once the gap is filled, as go-ethereum's queue would.
			p.requeueLocked(a, []*entry{e})
			continue
		}
		p.removeLocked(a, e)
		if x.nonce >= nonces[x.from] {
			for n, later := range a.pending {
				if n > x.nonce {
					p.removeLocked(a, later)
				}
			}
		}
	}
	var promote []common.Address
	for addr, nonce := range nonces {
		a := p.accounts[addr]
		if a == nil {
			continue
		}
		p.dropStaleLocked(a, nonce)
		if a.queued[a.pendingNonce(nonce)] != nil {
			promote = append(promote, addr)
		}
		p.forgetLocked(addr, a)
	}
	if len(promote) > 0 {
		p.bg.Add(1)
		go func() {
			defer p.bg.Done()
			for _, addr := range promote {
				p.promote(addr)
			}
		}()
	}
}

// promote submits addr's queued transactions that became contiguous.
func (p *pool) promote(addr common.Address) {
	a := p.acquire(addr)
	a.submitMu.Lock()
	defer p.release(addr, a)
	defer a.submitMu.Unlock()

	nonce, _, err := p.stateOf(addr)
	if err != nil {
		p.c.log.Warn("promote queued transactions", "from", addr, "err", err)
		return
	}
	p.dropStaleLocked(a, nonce)
	out := p.promoteLocked(a, a.pendingNonce(nonce))
	p.mu.Unlock()
	if len(out) == 0 {
		return
	}
	if n, err := p.submit(out); err != nil {
		p.c.log.Warn("queued transactions not submitted", "from", addr, "count", len(out)-n, "err", err)
		p.mu.Lock()
		p.requeueLocked(a, out[n:])
		p.mu.Unlock()
	}
}
