package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

func testPlan(streams ...int) *plan {
	p := &plan{}
	next := int32(0)
	for _, n := range streams {
		var s []int32
		for range n {
			s = append(s, next)
			next++
		}
		p.streams = append(p.streams, s)
	}
	p.raw = make([]string, next)
	p.hashes = make([]common.Hash, next)
	for i := range p.hashes {
		p.hashes[i] = crypto.Keccak256Hash([]byte{byte(i), byte(i >> 8)})
	}
	return p
}

func TestCursorRoundRobin(t *testing.T) {
	c := newCursor(testPlan(3, 3))
	var got []sendBatch
	for {
		b := c.peek(2)
		if len(b.txs) == 0 {
			break
		}
		c.advance(b)
		got = append(got, b)
	}
	want := []sendBatch{{0, []int32{0, 1}}, {1, []int32{3, 4}}, {0, []int32{2}}, {1, []int32{5}}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].endpoint != want[i].endpoint || len(got[i].txs) != len(want[i].txs) || got[i].txs[0] != want[i].txs[0] {
			t.Errorf("batch %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestTrackerTransitions(t *testing.T) {
	p := testPlan(4)
	var released atomic.Int32
	tr := newTracker(time.Now(), p.hashes, func() { released.Add(1) })

	if tr.markCommitted(p.hashes[0], 5) {
		t.Error("an unsent transaction counted as committed")
	}
	for i := range int32(4) {
		tr.markSent(i, 10)
	}
	if tr.inflight.Load() != 4 {
		t.Fatalf("in flight = %d, want 4", tr.inflight.Load())
	}
	tr.markCommitted(p.hashes[0], 20)
	tr.markCommitted(p.hashes[0], 30) // the same block seen twice
	tr.markFailed(1)
	tr.markFailed(1)
	tr.markCommitted(p.hashes[1], 40) // rejected, then committed anyway
	if tr.markCommitted(common.Hash{1}, 50) {
		t.Error("a foreign hash counted as ours")
	}
	if got := tr.inflight.Load(); got != 2 {
		t.Errorf("in flight = %d, want 2", got)
	}
	if got := released.Load(); got != 2 {
		t.Errorf("released %d slots, want 2 (one per transaction leaving flight)", got)
	}
	out := tr.outcomes()
	if out[0].commitAt != 20 || out[0].failed || out[1].commitAt != 40 || out[1].failed || out[2].commitAt != 0 {
		t.Errorf("outcomes = %+v", out)
	}
}

// TestClosedLoopStopsAtConcurrency checks that without commits the closed
// loop sends exactly as many transactions as it has slots, in full batches.
func TestClosedLoopStopsAtConcurrency(t *testing.T) {
	p := testPlan(1000)
	slots := make(chan struct{}, 120)
	for range cap(slots) {
		slots <- struct{}{}
	}
	work := make(chan sendBatch)
	var sizes []int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range work {
			sizes = append(sizes, len(b.txs))
		}
	}()
	exhausted := runClosed(context.Background(), newCursor(p), work, slots, 50, time.Now(), 100*time.Millisecond)
	close(work)
	<-done
	if exhausted {
		t.Error("reported exhausted with 1000 txs for 120 slots")
	}
	total := 0
	for _, n := range sizes {
		total += n
	}
	if total != 120 || len(sizes) != 3 || sizes[0] != 50 || sizes[1] != 50 || sizes[2] != 20 {
		t.Errorf("sent batches %v, want [50 50 20]", sizes)
	}
}

func TestClosedLoopExhausts(t *testing.T) {
	p := testPlan(30)
	slots := make(chan struct{}, 100)
	for range cap(slots) {
		slots <- struct{}{}
	}
	work := make(chan sendBatch, 10)
	if !runClosed(context.Background(), newCursor(p), work, slots, 50, time.Now(), time.Minute) {
		t.Error("did not report exhausted")
	}
	if len(work) != 1 || len(slots) != 70 {
		t.Errorf("%d batches queued, %d slots left; want 1 and 70", len(work), len(slots))
	}
}

func TestOpenLoopExhaustsAndStops(t *testing.T) {
	p := testPlan(20)
	work := make(chan sendBatch)
	done := make(chan int)
	go func() {
		n := 0
		for b := range work {
			n += len(b.txs)
		}
		done <- n
	}()
	// At this rate the 20 transactions are due on the first tick.
	exhausted := runOpen(context.Background(), newCursor(p), work, 1e6, 50, time.Now(), time.Minute)
	close(work)
	if n := <-done; !exhausted || n != 20 {
		t.Errorf("exhausted %v after %d txs, want true after 20", exhausted, n)
	}
}

func TestConfigDefaults(t *testing.T) {
	key, _ := crypto.GenerateKey()
	base := Config{HTTPURLs: []string{"http://127.0.0.1:1"}, WSURL: "ws://127.0.0.1:2", Funder: key}
	c, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Transport != TransportHTTP || c.Concurrency != DefaultConcurrency || c.Accounts != DefaultAccounts ||
		c.SendBatch != DefaultSendBatch || c.Duration != DefaultDuration || c.Txs != DefaultClosedLoopTxs ||
		c.Seed == 0 || c.Logger == nil || c.Senders < 8 {
		t.Errorf("defaults = %+v", c)
	}
	open := base
	open.Rate, open.Concurrency, open.Duration, open.Warmup = 1000, 7, 10*time.Second, 2*time.Second
	c, err = open.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Concurrency != 0 || c.Txs < 12000 || c.Txs > 13000 {
		t.Errorf("open loop: concurrency %d, txs %d", c.Concurrency, c.Txs)
	}
	for name, mutate := range map[string]func(*Config){
		"no http":      func(c *Config) { c.HTTPURLs = nil },
		"no ws":        func(c *Config) { c.WSURL = "" },
		"no funder":    func(c *Config) { c.Funder = nil },
		"transport":    func(c *Config) { c.Transport = "grpc" },
		"negative":     func(c *Config) { c.Rate = -1 },
		"few accounts": func(c *Config) { c.HTTPURLs = []string{"a", "b", "c"}; c.Accounts = 2 },
		"too many txs": func(c *Config) { c.Rate = 1e6; c.Duration = time.Hour },
		"interval":     func(c *Config) { c.Interval = time.Millisecond },
	} {
		c := base
		mutate(&c)
		if _, err := c.withDefaults(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: error %v, want ErrConfig", name, err)
		}
	}
}
