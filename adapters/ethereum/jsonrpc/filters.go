package jsonrpc

import (
	"context"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/cocoledger/coco/adapters/ethereum/chain"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/rpc"
)

// listenerBuffer is how many events a WebSocket subscription may lag
// behind before it is dropped; the chain never waits for a slow client.
const listenerBuffer = 1024

// hub follows the backend's block and pending-transaction feeds once and
// fans them out to polling filters and WebSocket subscriptions without
// blocking on either.
type hub struct {
	b       Backend
	filters *filterStore
	log     *slog.Logger

	mu      sync.Mutex
	blocks  map[chan chain.Event]struct{}
	pending map[chan []*types.Transaction]struct{}

	chainSub, pendingSub event.Subscription
	quit                 chan struct{}
	done                 sync.WaitGroup
}

func newHub(b Backend, filters *filterStore, log *slog.Logger) *hub {
	return &hub{
		b:       b,
		filters: filters,
		log:     log,
		blocks:  make(map[chan chain.Event]struct{}),
		pending: make(map[chan []*types.Transaction]struct{}),
		quit:    make(chan struct{}),
	}
}

func (h *hub) start() {
	blocks := make(chan chain.Event, 64)
	pending := make(chan []*types.Transaction, 64)
	h.chainSub = h.b.SubscribeChainEvent(blocks)
	h.pendingSub = h.b.SubscribePendingTxs(pending)
	h.done.Add(1)
	go h.loop(blocks, pending)
}

func (h *hub) stop() {
	close(h.quit)
	h.done.Wait()
	h.chainSub.Unsubscribe()
	h.pendingSub.Unsubscribe()
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.blocks {
		close(ch)
	}
	for ch := range h.pending {
		close(ch)
	}
	clear(h.blocks)
	clear(h.pending)
}

// fanOut delivers v to every subscriber without blocking; a subscriber whose
// buffer is full is dropped (its channel closed) rather than stall the rest.
// The caller holds the hub's lock.
func fanOut[T any](subs map[chan T]struct{}, v T, log *slog.Logger, kind string) {
	for ch := range subs {
		select {
		case ch <- v:
		default:
			log.Warn("dropping slow "+kind+" subscriber", "buffer", listenerBuffer)
			delete(subs, ch)
			close(ch)
		}
	}
}

func (h *hub) loop(blocks chan chain.Event, pending chan []*types.Transaction) {
	defer h.done.Done()
	chainErr, pendingErr := h.chainSub.Err(), h.pendingSub.Err()
	for {
		select {
		case ev := <-blocks:
			h.filters.onBlock(ev)
			h.mu.Lock()
			fanOut(h.blocks, ev, h.log, "block")
			h.mu.Unlock()
		case txs := <-pending:
			h.filters.onPending(txs)
			h.mu.Lock()
			fanOut(h.pending, txs, h.log, "pending-transaction")
			h.mu.Unlock()
		case err := <-chainErr:
			if err != nil {
				h.log.Error("block feed failed", "err", err)
			}
			chainErr = nil
		case err := <-pendingErr:
			if err != nil {
				h.log.Error("pending transaction feed failed", "err", err)
			}
			pendingErr = nil
		case <-h.quit:
			return
		}
	}
}

// subscribeBlocks returns a channel of committed blocks, closed when the
// listener falls too far behind or the server stops, and its cancel func.
func (h *hub) subscribeBlocks() (<-chan chain.Event, func()) {
	return subscribe(&h.mu, h.blocks)
}

// subscribePending is subscribeBlocks for pending transactions.
func (h *hub) subscribePending() (<-chan []*types.Transaction, func()) {
	return subscribe(&h.mu, h.pending)
}

func subscribe[T any](mu *sync.Mutex, subs map[chan T]struct{}) (<-chan T, func()) {
	ch := make(chan T, listenerBuffer)
	mu.Lock()
	subs[ch] = struct{}{}
	mu.Unlock()
	return ch, func() {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := subs[ch]; ok {
			delete(subs, ch)
			close(ch)
		}
	}
}

type filterKind int

const (
	logsFilter filterKind = iota
	blocksFilter
	pendingFilter
)

// filter is one polling filter and what happened since its last poll.
type filter struct {
	kind     filterKind
	crit     filterCriteria
	fullTx   bool
	lastPoll time.Time
	hashes   []common.Hash
	txs      []*types.Transaction
	logs     []*types.Log
}

// filterStore holds the polling filters.
type filterStore struct {
	timeout time.Duration
	mu      sync.Mutex
	m       map[rpc.ID]*filter
}

func newFilterStore(timeout time.Duration) *filterStore {
	return &filterStore{timeout: timeout, m: make(map[rpc.ID]*filter)}
}

func (fs *filterStore) install(f *filter) rpc.ID {
	id := rpc.NewID()
	f.lastPoll = time.Now()
	fs.mu.Lock()
	fs.m[id] = f
	fs.mu.Unlock()
	return id
}

func (fs *filterStore) onBlock(ev chain.Event) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.m {
		switch f.kind {
		case blocksFilter:
			f.hashes = append(f.hashes, ev.Block.Hash())
		case logsFilter:
			f.logs = append(f.logs, filterLogs(ev.Logs, f.crit.FromBlock, f.crit.ToBlock, f.crit.Addresses, f.crit.Topics)...)
		}
	}
}

func (fs *filterStore) onPending(txs []*types.Transaction) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.m {
		if f.kind == pendingFilter {
			f.txs = append(f.txs, txs...)
		}
	}
}

// take returns a copy of the filter's state and empties its buffers.
func (fs *filterStore) take(id rpc.ID) (filter, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.m[id]
	if !ok {
		return filter{}, false
	}
	f.lastPoll = time.Now()
	out := *f
	f.hashes, f.txs, f.logs = nil, nil, nil
	return out, true
}

func (fs *filterStore) get(id rpc.ID) (filter, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.m[id]
	if !ok {
		return filter{}, false
	}
	f.lastPoll = time.Now()
	return filter{kind: f.kind, crit: f.crit}, true
}

func (fs *filterStore) uninstall(id rpc.ID) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, ok := fs.m[id]
	delete(fs.m, id)
	return ok
}

// expire removes the filters not polled for the timeout before now.
func (fs *filterStore) expire(now time.Time) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for id, f := range fs.m {
		if now.Sub(f.lastPoll) > fs.timeout {
			delete(fs.m, id)
			n++
		}
	}
	return n
}

// normalizeLiveRange checks the block range of a filter or subscription on
// new blocks, as go-ethereum's SubscribeLogs does, treating pending, safe
// and finalized as latest.
func normalizeLiveRange(crit *filterCriteria) error {
	if err := checkQueryLimits(crit); err != nil {
		return err
	}
	if crit.BlockHash != nil {
		return nil // eth_getFilterLogs reads that block; changes match any new log
	}
	latest := int64(rpc.LatestBlockNumber)
	norm := func(b *big.Int) int64 {
		if b == nil {
			return latest
		}
		switch n := rpc.BlockNumber(b.Int64()); n {
		case rpc.PendingBlockNumber, rpc.SafeBlockNumber, rpc.FinalizedBlockNumber, rpc.LatestBlockNumber:
			return latest
		case rpc.EarliestBlockNumber:
			return 0
		default:
			return int64(n)
		}
	}
	from, to := norm(crit.FromBlock), norm(crit.ToBlock)
	switch {
	case from == latest && to == latest:
	case from >= 0 && to >= 0 && to >= from:
	case from >= 0 && to == latest:
	default:
		return errInvalidBlockRange
	}
	crit.FromBlock, crit.ToBlock = big.NewInt(from), big.NewInt(to)
	return nil
}

// NewFilter is eth_newFilter: logs of blocks committed from now on.
func (api *ethAPI) NewFilter(crit filterCriteria) (rpc.ID, error) {
	if err := normalizeLiveRange(&crit); err != nil {
		return "", err
	}
	return api.filters.install(&filter{kind: logsFilter, crit: crit}), nil
}

// NewBlockFilter is eth_newBlockFilter.
func (api *ethAPI) NewBlockFilter() rpc.ID {
	return api.filters.install(&filter{kind: blocksFilter})
}

// NewPendingTransactionFilter is eth_newPendingTransactionFilter; with
// fullTx true the changes are full transactions instead of hashes.
func (api *ethAPI) NewPendingTransactionFilter(fullTx *bool) rpc.ID {
	return api.filters.install(&filter{kind: pendingFilter, fullTx: fullTx != nil && *fullTx})
}

// GetFilterChanges is eth_getFilterChanges: what happened since the last
// poll (block hashes, transaction hashes or transactions, or logs).
func (api *ethAPI) GetFilterChanges(id rpc.ID) (any, error) {
	f, ok := api.filters.take(id)
	if !ok {
		return []any{}, ErrFilterNotFound
	}
	switch f.kind {
	case blocksFilter:
		return nonNil(f.hashes), nil
	case pendingFilter:
		if f.fullTx {
			head := api.b.CurrentHeader()
			txs := make([]*rpcTransaction, 0, len(f.txs))
			for _, tx := range f.txs {
				txs = append(txs, api.m.pendingTx(tx, head))
			}
			return txs, nil
		}
		hashes := make([]common.Hash, 0, len(f.txs))
		for _, tx := range f.txs {
			hashes = append(hashes, tx.Hash())
		}
		return hashes, nil
	default:
		return nonNil(f.logs), nil
	}
}

// GetFilterLogs is eth_getFilterLogs: every stored log matching a log
// filter's criteria.
func (api *ethAPI) GetFilterLogs(ctx context.Context, id rpc.ID) ([]*types.Log, error) {
	f, ok := api.filters.get(id)
	if !ok || f.kind != logsFilter {
		return nil, ErrFilterNotFound
	}
	return api.queryLogs(ctx, f.crit)
}

// UninstallFilter is eth_uninstallFilter.
func (api *ethAPI) UninstallFilter(id rpc.ID) bool {
	return api.filters.uninstall(id)
}

// GetLogs is eth_getLogs over committed blocks.
func (api *ethAPI) GetLogs(ctx context.Context, crit filterCriteria) ([]*types.Log, error) {
	if err := checkQueryLimits(&crit); err != nil {
		return nil, err
	}
	return api.queryLogs(ctx, crit)
}

func (api *ethAPI) queryLogs(ctx context.Context, crit filterCriteria) ([]*types.Log, error) {
	if crit.BlockHash != nil {
		if crit.FromBlock != nil || crit.ToBlock != nil {
			return nil, errBlockHashWithRange
		}
		h := api.b.HeaderByHash(*crit.BlockHash)
		if h == nil {
			return nil, ErrUnknownBlock
		}
		return nonNil(api.blockLogs(h, crit)), nil
	}
	head := api.b.CurrentHeader().Number.Uint64()
	resolve := func(b *big.Int) uint64 {
		if b == nil {
			return head
		}
		switch n := rpc.BlockNumber(b.Int64()); {
		case n == rpc.EarliestBlockNumber:
			return 0
		case n < 0: // latest, pending, safe, finalized
			return head
		default:
			return uint64(n)
		}
	}
	if crit.FromBlock != nil && crit.ToBlock != nil && crit.FromBlock.Sign() >= 0 && crit.ToBlock.Sign() >= 0 && crit.FromBlock.Cmp(crit.ToBlock) > 0 {
		return nil, errInvalidBlockRange
	}
	begin, end := resolve(crit.FromBlock), resolve(crit.ToBlock)
	if begin > end {
		return nil, errInvalidBlockRange
	}
	if end > head {
		return nil, errBlockRangeIntoFuture
	}
	if end-begin > api.cfg.MaxLogsRange {
		return nil, invalidParams("exceed maximum block range %d", api.cfg.MaxLogsRange)
	}
	var logs []*types.Log
	for n := begin; n <= end; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h := api.b.HeaderByNumber(n)
		if h == nil {
			return nil, ErrHeaderNotFound
		}
		logs = append(logs, api.blockLogs(h, crit)...)
	}
	return nonNil(logs), nil
}

// blockLogs are the matching logs of one block; the bloom filter spares
// reading receipts of blocks that cannot match.
func (api *ethAPI) blockLogs(h *types.Header, crit filterCriteria) []*types.Log {
	if !bloomMatch(h.Bloom, crit.Addresses, crit.Topics) {
		return nil
	}
	var logs []*types.Log
	for _, r := range api.b.Receipts(h.Hash()) {
		for _, l := range r.Logs {
			if matchLog(l, crit.Addresses, crit.Topics) {
				logs = append(logs, l)
			}
		}
	}
	return logs
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// NewHeads is eth_subscribe("newHeads").
func (api *ethAPI) NewHeads(ctx context.Context) (*rpc.Subscription, error) {
	notifier, ok := rpc.NotifierFromContext(ctx)
	if !ok {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	blocks, cancel := api.hub.subscribeBlocks()
	return notify(notifier, blocks, cancel, func(ev chain.Event) []any {
		return []any{ev.Block.Header()}
	}), nil
}

// Logs is eth_subscribe("logs", criteria): matching logs of new blocks,
// one notification per log.
func (api *ethAPI) Logs(ctx context.Context, crit filterCriteria) (*rpc.Subscription, error) {
	notifier, ok := rpc.NotifierFromContext(ctx)
	if !ok {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	if err := normalizeLiveRange(&crit); err != nil {
		return nil, err
	}
	blocks, cancel := api.hub.subscribeBlocks()
	return notify(notifier, blocks, cancel, func(ev chain.Event) []any {
		var out []any
		for _, l := range filterLogs(ev.Logs, crit.FromBlock, crit.ToBlock, crit.Addresses, crit.Topics) {
			out = append(out, l)
		}
		return out
	}), nil
}

// NewPendingTransactions is eth_subscribe("newPendingTransactions"[,
// fullTx]): hashes, or full transactions when fullTx is true.
func (api *ethAPI) NewPendingTransactions(ctx context.Context, fullTx *bool) (*rpc.Subscription, error) {
	notifier, ok := rpc.NotifierFromContext(ctx)
	if !ok {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	full := fullTx != nil && *fullTx
	pending, cancel := api.hub.subscribePending()
	return notify(notifier, pending, cancel, func(txs []*types.Transaction) []any {
		head := api.b.CurrentHeader()
		out := make([]any, len(txs))
		for i, tx := range txs {
			if full {
				out[i] = api.m.pendingTx(tx, head)
			} else {
				out[i] = tx.Hash()
			}
		}
		return out
	}), nil
}

// notify creates a subscription that sends what render makes of each value
// from ch, until the client unsubscribes, a send fails or ch closes.
func notify[T any](notifier *rpc.Notifier, ch <-chan T, cancel func(), render func(T) []any) *rpc.Subscription {
	sub := notifier.CreateSubscription()
	go func() {
		defer cancel()
		for {
			select {
			case v, ok := <-ch:
				if !ok {
					return
				}
				for _, msg := range render(v) {
					if err := notifier.Notify(sub.ID, msg); err != nil {
						return
					}
				}
			case <-sub.Err():
				return
			}
		}
	}()
	return sub
}
