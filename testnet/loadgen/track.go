package loadgen

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Transaction states in tracker.status.
const (
	stUnsent uint32 = iota
	stInflight
	stCommitted
	stFailed
)

// tracker holds what happened to every pre-signed transaction. Times are
// nanoseconds since base, at least 1, so 0 means "not yet".
type tracker struct {
	base     time.Time
	index    map[common.Hash]int32
	sentAt   []atomic.Int64
	commitAt []atomic.Int64
	status   []atomic.Uint32
	inflight atomic.Int64
	// release is called once per transaction that stops being in flight
	// (committed or failed); closed loop uses it to free a slot.
	release func()

	mu     sync.Mutex
	blocks []blockSeen
}

// blockSeen is one block observed through newHeads.
type blockSeen struct {
	number uint64
	at     int64 // arrival of the head that announced it
	ours   int   // our transactions in it
}

func newTracker(base time.Time, hashes []common.Hash, release func()) *tracker {
	t := &tracker{
		base:     base,
		index:    make(map[common.Hash]int32, len(hashes)),
		sentAt:   make([]atomic.Int64, len(hashes)),
		commitAt: make([]atomic.Int64, len(hashes)),
		status:   make([]atomic.Uint32, len(hashes)),
		release:  release,
	}
	for i, h := range hashes {
		t.index[h] = int32(i)
	}
	return t
}

func (t *tracker) now() int64 { return max(1, int64(time.Since(t.base))) }

func (t *tracker) markSent(i int32, at int64) {
	t.sentAt[i].Store(at)
	if t.status[i].CompareAndSwap(stUnsent, stInflight) {
		t.inflight.Add(1)
	}
}

func (t *tracker) markFailed(i int32) {
	if t.status[i].CompareAndSwap(stInflight, stFailed) {
		t.inflight.Add(-1)
		if t.release != nil {
			t.release()
		}
	}
}

// markCommitted records that hash was in a block announced at at; it reports
// whether hash is one of ours. A transaction whose send reported an error is
// still recorded as committed if it shows up in a block.
func (t *tracker) markCommitted(hash common.Hash, at int64) bool {
	i, ok := t.index[hash]
	if !ok || t.sentAt[i].Load() == 0 {
		return false
	}
	if !t.commitAt[i].CompareAndSwap(0, at) {
		return true
	}
	if t.status[i].CompareAndSwap(stInflight, stCommitted) {
		t.inflight.Add(-1)
		if t.release != nil {
			t.release()
		}
	} else {
		t.status[i].CompareAndSwap(stFailed, stCommitted)
	}
	return true
}

func (t *tracker) addBlock(b blockSeen) {
	t.mu.Lock()
	t.blocks = append(t.blocks, b)
	t.mu.Unlock()
}

// outcome is one transaction's fate, for summarize.
type outcome struct {
	sentAt   int64
	commitAt int64
	failed   bool
}

// latency is submit to commit; call it for a committed transaction.
func (o outcome) latency() time.Duration { return time.Duration(max(0, o.commitAt-o.sentAt)) }

// outcomes snapshots every transaction; call it once sending has stopped.
func (t *tracker) outcomes() []outcome {
	out := make([]outcome, len(t.sentAt))
	for i := range out {
		out[i] = outcome{sentAt: t.sentAt[i].Load(), commitAt: t.commitAt[i].Load(), failed: t.status[i].Load() == stFailed}
	}
	return out
}

func (t *tracker) blocksSeen() []blockSeen {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]blockSeen(nil), t.blocks...)
}
