package loadgen

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
)

const (
	// maxHeadGap bounds how many blocks one head may make us fetch.
	maxHeadGap = 10_000
	// A node announces a head before it may serve the block; retry briefly.
	blockRetries    = 40
	blockRetryPause = 25 * time.Millisecond
)

// head is the part of a newHeads notification we need; decoding only it
// keeps us independent of which optional header fields a node fills.
type head struct {
	Number *hexutil.Big `json:"number"`
}

type stampedHead struct {
	number uint64
	at     int64
}

// blockHashes is eth_getBlockByNumber(n, false) reduced to what we need.
type blockHashes struct {
	Number       *hexutil.Big  `json:"number"`
	Transactions []common.Hash `json:"transactions"`
}

// watcher turns newHeads into commit times: every transaction in a block
// counts as committed when the head announcing the block arrived, so the
// time spent fetching the block does not count.
type watcher struct {
	client  *rpc.Client
	tr      *tracker
	timeout time.Duration
	log     *slog.Logger
	sub     *rpc.ClientSubscription
	heads   chan head
	last    uint64
	done    chan struct{}
	err     error // set before done is closed
}

// startWatch subscribes to newHeads and starts following from the current
// block; it returns once the subscription is live.
func startWatch(ctx context.Context, client *rpc.Client, tr *tracker, timeout time.Duration, log *slog.Logger) (*watcher, error) {
	w := &watcher{client: client, tr: tr, timeout: timeout, log: log,
		heads: make(chan head, 4096), done: make(chan struct{})}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sub, err := client.EthSubscribe(sctx, w.heads, "newHeads")
	if err != nil {
		return nil, fmt.Errorf("%w: subscribe newHeads: %w", ErrCommitTracking, err)
	}
	var num hexutil.Uint64
	if err := client.CallContext(sctx, &num, "eth_blockNumber"); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("%w: eth_blockNumber: %w", ErrCommitTracking, err)
	}
	w.sub, w.last = sub, uint64(num)
	go w.run(ctx)
	return w, nil
}

// wait blocks until the watcher has stopped and returns why, nil when ctx
// ended it.
func (w *watcher) wait() error {
	<-w.done
	return w.err
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	defer w.sub.Unsubscribe()
	stamped := make(chan stampedHead, 4096)
	recvErr := make(chan error, 1)
	// Stamp arrivals in their own goroutine so a slow block fetch does not
	// delay the commit time of the next head.
	go func() {
		defer close(stamped)
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-w.sub.Err():
				recvErr <- err
				return
			case h := <-w.heads:
				if h.Number == nil {
					continue
				}
				select {
				case stamped <- stampedHead{number: h.Number.ToInt().Uint64(), at: w.tr.now()}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	for h := range stamped {
		if err := w.follow(ctx, h); err != nil {
			if ctx.Err() == nil {
				w.err = err
			}
			return
		}
	}
	select {
	case err := <-recvErr:
		if ctx.Err() == nil {
			w.err = fmt.Errorf("%w: newHeads subscription: %v", ErrCommitTracking, err)
		}
	default:
	}
}

// follow fetches every block up to h that has not been seen yet.
func (w *watcher) follow(ctx context.Context, h stampedHead) error {
	if h.number <= w.last {
		return nil
	}
	from := w.last + 1
	if h.number-w.last > maxHeadGap {
		w.log.Warn("loadgen: head jumped, skipping blocks", "from", from, "to", h.number)
		from = h.number - maxHeadGap + 1
	}
	for n := from; n <= h.number; n++ {
		b, err := w.block(ctx, n)
		if err != nil {
			return err
		}
		ours := 0
		for _, hash := range b.Transactions {
			if w.tr.markCommitted(hash, h.at) {
				ours++
			}
		}
		w.tr.addBlock(blockSeen{number: n, at: h.at, ours: ours})
		w.last = n
	}
	return nil
}

func (w *watcher) block(ctx context.Context, n uint64) (*blockHashes, error) {
	for range blockRetries {
		var b *blockHashes
		cctx, cancel := context.WithTimeout(ctx, w.timeout)
		err := w.client.CallContext(cctx, &b, "eth_getBlockByNumber", hexutil.Uint64(n), false)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: eth_getBlockByNumber(%d): %w", ErrCommitTracking, n, err)
		}
		if b != nil {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(blockRetryPause):
		}
	}
	return nil, fmt.Errorf("%w: block %d announced but not served", ErrCommitTracking, n)
}
