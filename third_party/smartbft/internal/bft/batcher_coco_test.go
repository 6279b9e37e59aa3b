package bft

import (
	"sync"
	"testing"
	"time"

	"github.com/hyperledger-labs/SmartBFT/pkg/types"
)

// fifoPool is a request pool as NextBatch sees it.
type fifoPool struct {
	mu   sync.Mutex
	reqs [][]byte
}

func (p *fifoPool) add(r string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, []byte(r))
}

func (p *fifoPool) NextRequests(maxCount int, _ uint64, check bool) ([][]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	full := len(p.reqs) >= maxCount
	if check && !full {
		return nil, false
	}
	// Like the real pool, it only peeks: requests leave when delivered.
	return append([][]byte(nil), p.reqs[:min(len(p.reqs), maxCount)]...), full
}

// deliver removes the n oldest requests, as delivering a block does.
func (p *fifoPool) deliver(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = p.reqs[n:]
}

func (p *fifoPool) Prune(func([]byte) error)              {}
func (p *fifoPool) Submit([]byte) error                   { return nil }
func (p *fifoPool) Size() int                             { return len(p.reqs) }
func (p *fifoPool) RemoveRequest(types.RequestInfo) error { return nil }
func (p *fifoPool) StopTimers()                           {}
func (p *fifoPool) RestartTimers()                        {}
func (p *fifoPool) Close()                                {}

// The batch timeout is the least time between batches (Coco's change), not a
// wait that starts whenever the leader asks.
func TestNextBatchSpacesBatches(t *testing.T) {
	const interval = time.Second
	pool := &fifoPool{}
	submitted := make(chan struct{}, 1)
	b := NewBatchBuilder(pool, submitted, 3, 1<<20, interval)
	defer b.Close()

	// On an idle leader a request goes at once.
	pool.add("a")
	start := time.Now()
	if got := b.NextBatch(); len(got) != 1 {
		t.Fatalf("first batch %q", got)
	}
	pool.deliver(1)
	if d := time.Since(start); d >= interval {
		t.Fatalf("a lone request waited %v", d)
	}

	// The next one waits until the previous batch is an interval old.
	pool.add("b")
	if got := b.NextBatch(); len(got) != 1 {
		t.Fatalf("second batch %q", got)
	}
	pool.deliver(1)
	if d := time.Since(start); d < interval {
		t.Fatalf("second batch %v after the first, want at least %v", d, interval)
	}

	// A full batch does not wait.
	pool.add("c")
	pool.add("d")
	pool.add("e")
	start = time.Now()
	if got := b.NextBatch(); len(got) != 3 {
		t.Fatalf("full batch %q", got)
	}
	pool.deliver(3)
	if d := time.Since(start); d >= interval {
		t.Fatalf("a full batch waited %v", d)
	}

	// A request arriving while an idle leader waits goes once the interval
	// since the previous batch has passed.
	time.Sleep(interval)
	go func() {
		time.Sleep(interval / 4)
		pool.add("f")
		submitted <- struct{}{}
	}()
	start = time.Now()
	if got := b.NextBatch(); len(got) != 1 {
		t.Fatalf("late request batch %q", got)
	}
	if d := time.Since(start); d >= interval {
		t.Fatalf("a request on an idle leader waited %v", d)
	}
}
