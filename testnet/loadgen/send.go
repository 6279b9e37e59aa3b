package loadgen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"
)

// pacer is the open-loop token bucket: rate tokens per second accrue from
// the start, and every issued transaction spends one.
type pacer struct {
	rate   float64
	issued int
}

// due is how many transactions the schedule wants sent by elapsed and that
// have not been issued yet.
func (p *pacer) due(elapsed time.Duration) int {
	return max(0, int(p.rate*elapsed.Seconds())-p.issued)
}

// tickFor is how often the open-loop dispatcher hands out work: about one
// full batch per tick, between 1ms and 10ms so low rates still go out
// promptly and high rates do not spin.
func tickFor(rate float64, batch int) time.Duration {
	t := time.Duration(float64(batch) / rate * float64(time.Second))
	return min(max(t, time.Millisecond), 10*time.Millisecond)
}

// sendBatch is work for one request: transactions for one endpoint.
type sendBatch struct {
	endpoint int
	txs      []int32
}

// cursor walks the plan's streams, endpoints round-robin. It is used by a
// single dispatcher goroutine.
type cursor struct {
	streams [][]int32
	pos     []int
	next    int
}

func newCursor(p *plan) *cursor {
	return &cursor{streams: p.streams, pos: make([]int, len(p.streams))}
}

// peek returns up to n transactions for the next endpoint without consuming
// them; an empty batch means that endpoint's stream is used up.
func (c *cursor) peek(n int) sendBatch {
	k := c.next
	s := c.streams[k][c.pos[k]:]
	return sendBatch{endpoint: k, txs: s[:min(n, len(s))]}
}

// advance consumes b, which must come from the latest peek.
func (c *cursor) advance(b sendBatch) {
	c.pos[b.endpoint] += len(b.txs)
	c.next = (c.next + 1) % len(c.streams)
}

// sender submits batches and records what the node answered.
type sender struct {
	plan    *plan
	tr      *tracker
	clients []*rpc.Client // by endpoint
	timeout time.Duration
	win     window
	sent    atomic.Int64

	mu       sync.Mutex
	errs     errorCounter // in the window
	outside  int          // errors outside the window
	examples map[string]string
}

func (s *sender) send(ctx context.Context, b sendBatch) {
	at := s.tr.now()
	for _, i := range b.txs {
		s.tr.markSent(i, at)
	}
	s.sent.Add(int64(len(b.txs)))
	results := make([]common.Hash, len(b.txs))
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	client := s.clients[b.endpoint]
	if len(b.txs) == 1 {
		if err := client.CallContext(cctx, &results[0], "eth_sendRawTransaction", s.plan.raw[b.txs[0]]); err != nil {
			s.tr.markFailed(b.txs[0])
			// A single call's error is the node's answer unless it is a
			// transport error, which rpc.Error never is.
			var rerr rpc.Error
			if errors.As(err, &rerr) {
				s.count(elemErrorKey(err), err, at, 1)
			} else {
				s.count(requestErrorKey(err), err, at, 1)
			}
		}
		return
	}
	elems := make([]rpc.BatchElem, len(b.txs))
	for j, i := range b.txs {
		elems[j] = rpc.BatchElem{Method: "eth_sendRawTransaction", Args: []any{s.plan.raw[i]}, Result: &results[j]}
	}
	if err := client.BatchCallContext(cctx, elems); err != nil {
		for _, i := range b.txs {
			s.tr.markFailed(i)
		}
		s.count(requestErrorKey(err), err, at, len(b.txs))
		return
	}
	for j, i := range b.txs {
		if elems[j].Error != nil {
			s.tr.markFailed(i)
			s.count(elemErrorKey(elems[j].Error), elems[j].Error, at, 1)
		} else if results[j] != s.plan.hashes[i] {
			// Accepted, so it may still commit; but a node that reports
			// another hash is worth knowing about.
			s.count("node returned a different transaction hash", nil, at, 1)
		}
	}
}

func (s *sender) count(key string, err error, at int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.examples[key]; !ok && len(s.examples) < maxErrorKeys && err != nil {
		s.examples[key] = err.Error()
	}
	if s.win.contains(at) {
		s.errs.add(key, n)
	} else {
		s.outside += n
	}
}

// runOpen dispatches at cfg.Rate until elapsed reaches stop; it reports
// whether the plan ran out. A batch is only handed to an idle sender, so
// when all senders are busy the backlog grows and FellBehind shows it.
func runOpen(ctx context.Context, c *cursor, work chan<- sendBatch, rate float64, batch int, start time.Time, stop time.Duration) (exhausted bool) {
	p := pacer{rate: rate}
	ticker := time.NewTicker(tickFor(rate, batch))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-ticker.C:
		}
		elapsed := time.Since(start)
		if elapsed >= stop {
			return false
		}
	dispatch:
		for n := p.due(elapsed); n > 0; {
			b := c.peek(min(n, batch))
			if len(b.txs) == 0 {
				return true
			}
			select {
			case work <- b:
				c.advance(b)
				p.issued += len(b.txs)
				n -= len(b.txs)
			default:
				break dispatch
			}
		}
	}
}

// runClosed keeps at most cap(slots) transactions in flight until stop; a
// slot comes back when its transaction commits or is rejected.
func runClosed(ctx context.Context, c *cursor, work chan<- sendBatch, slots chan struct{}, batch int, start time.Time, stop time.Duration) (exhausted bool) {
	timer := time.NewTimer(stop - time.Since(start))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return false
		case <-slots:
		}
		got := 1
	fill:
		for got < batch {
			select {
			case <-slots:
				got++
			default:
				break fill
			}
		}
		b := c.peek(got)
		for range got - len(b.txs) {
			slots <- struct{}{}
		}
		if len(b.txs) == 0 {
			return true
		}
		c.advance(b)
		select {
		case work <- b:
		case <-ctx.Done():
			return false
		case <-timer.C:
			return false
		}
	}
}
