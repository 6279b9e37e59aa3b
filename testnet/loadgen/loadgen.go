package loadgen

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"
)

const (
	// verifySample is how many committed transactions get their receipt checked.
	verifySample = 100
	// setupBudget bounds everything outside funding, the load and the drain
	// (dialing, signing, verification), so a run always ends on its own.
	setupBudget = 5 * time.Minute
	// progressEvery is how often a run logs its progress.
	progressEvery = 5 * time.Second
)

// Run funds cfg.Accounts fresh senders from cfg.Funder, pre-signs the
// transfers, sends them for cfg.Warmup+cfg.Duration and reports what the
// node committed in the measured window. It returns an error when setup
// fails or when commits can no longer be observed.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	ctx, cancel := context.WithTimeout(ctx, cfg.FundTimeout+cfg.Warmup+cfg.Duration+cfg.Drain+setupBudget)
	defer cancel()

	cl, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer cl.close()

	chainID, f, err := chainParams(ctx, cl.http[0], cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	keys := senderKeys(cfg.Seed, cfg.Accounts)
	perAccount := (cfg.Txs + cfg.Accounts - 1) / cfg.Accounts
	if err := fund(ctx, cl.http[0], cfg.Funder, keys, fundAmount(perAccount, f), chainID, f, cfg.SendBatch, cfg, log); err != nil {
		return nil, err
	}
	nonces, err := pendingNonces(ctx, cl.http[0], keys, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	signStart := time.Now()
	p, err := presign(keys, nonces, perAccount, cfg.endpoints(), cfg.Recipients, chainID, f, cfg.Seed)
	if err != nil {
		return nil, err
	}
	log.Info("loadgen: pre-signed transfers", "txs", p.len(), "took", time.Since(signStart).Round(time.Millisecond),
		"chain_id", chainID, "fee_cap", f.maxPrice())

	var slots chan struct{}
	var release func()
	if cfg.Rate == 0 {
		slots = make(chan struct{}, cfg.Concurrency)
		for range cfg.Concurrency {
			slots <- struct{}{}
		}
		release = func() {
			select {
			case slots <- struct{}{}:
			default:
			}
		}
	}
	tr := newTracker(time.Now(), p.hashes, release)

	// The run stops early if commit tracking fails: without it nothing
	// can be measured.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	watchCtx, stopWatch := context.WithCancel(runCtx)
	defer stopWatch()
	w, err := startWatch(watchCtx, cl.watch, tr, cfg.RequestTimeout, log)
	if err != nil {
		return nil, err
	}
	go func() {
		if w.wait() != nil {
			stopRun()
		}
	}()

	sendStart := tr.now()
	start := tr.base.Add(time.Duration(sendStart))
	win := window{start: sendStart + int64(cfg.Warmup), end: sendStart + int64(cfg.Warmup+cfg.Duration)}
	s := &sender{plan: p, tr: tr, clients: cl.send, timeout: cfg.RequestTimeout, win: win,
		errs: errorCounter{}, examples: map[string]string{}}
	log.Info("loadgen: sending", "transport", cfg.Transport, "endpoints", cfg.endpoints(),
		"rate", cfg.Rate, "concurrency", cfg.Concurrency, "warmup", cfg.Warmup, "duration", cfg.Duration)

	// CPU counters at both ends of the window and of every interval, read
	// while the load runs.
	probe := newCPUProbe(cfg.HTTPURLs, cfg.RequestTimeout)
	cpuTimes := cpuSchedule(cfg.Warmup, cfg.Duration, cfg.Interval)
	var cpuAt []cpuSample
	cpuDone := make(chan struct{})
	go func() {
		defer close(cpuDone)
		for _, at := range cpuTimes {
			t := time.NewTimer(time.Until(start.Add(at)))
			select {
			case <-runCtx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			cpuAt = append(cpuAt, probe.sample(runCtx))
		}
	}()

	work := make(chan sendBatch)
	var senders sync.WaitGroup
	for range cfg.Senders {
		senders.Go(func() {
			for b := range work {
				s.send(runCtx, b)
			}
		})
	}
	progressDone := make(chan struct{})
	go progress(runCtx, progressDone, log, tr, s)
	c := newCursor(p)
	var exhausted bool
	if cfg.Rate > 0 {
		exhausted = runOpen(runCtx, c, work, cfg.Rate, cfg.SendBatch, start, cfg.Warmup+cfg.Duration)
	} else {
		exhausted = runClosed(runCtx, c, work, slots, cfg.SendBatch, start, cfg.Warmup+cfg.Duration)
	}
	close(work)
	senders.Wait()
	if exhausted {
		log.Warn("loadgen: ran out of pre-signed transactions", "txs", p.len())
	}

	drain(runCtx, tr, cfg.Drain)
	close(progressDone)
	<-cpuDone
	stopWatch()
	if err := w.wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loadgen: run aborted: %w", err)
	}

	r := &Report{
		Transport: cfg.Transport, Endpoints: cfg.endpoints(), Accounts: cfg.Accounts, SendBatch: cfg.SendBatch,
		Seed: cfg.Seed, TargetRate: cfg.Rate, Concurrency: cfg.Concurrency, Warmup: cfg.Warmup, Duration: cfg.Duration,
		Exhausted: exhausted,
	}
	out := tr.outcomes()
	summarize(r, out, tr.blocksSeen(), win)
	r.Intervals = intervals(out, win, cfg.Interval)
	if len(cpuAt) == len(cpuTimes) {
		c := cpuBetween(cpuAt[0], cpuAt[len(cpuAt)-1], cfg.Duration, r.Committed)
		r.CPU = &c
		if len(cpuAt) == len(r.Intervals)+1 {
			for i := range r.Intervals {
				iv := &r.Intervals[i]
				slice := cpuBetween(cpuAt[i], cpuAt[i+1], cpuTimes[i+1]-cpuTimes[i], iv.Committed)
				iv.NodeCores, iv.CPUPerTx = slice.NodeCores, slice.PerTx
			}
		}
	}
	s.mu.Lock()
	if len(s.errs) > 0 {
		r.Errors = s.errs
	}
	for _, n := range s.errs {
		r.ErrorCount += n
	}
	for k, msg := range s.examples {
		log.Warn("loadgen: send error", "key", k, "example", msg)
	}
	s.mu.Unlock()
	if cfg.Rate > 0 {
		r.FellBehind = fellBehind(cfg.Rate, cfg.Duration, r.Sent, cfg.SendBatch)
	}
	r.Verified, r.VerifyFailures = verify(ctx, cl.http[0], p.hashes, out, cfg.Seed, cfg.RequestTimeout, log)
	log.Info("loadgen: done", "committed_tps", r.CommittedTPS, "p50", r.Latency.P50, "p99", r.Latency.P99)
	return r, nil
}

// drain waits, at most d, until no sent transaction is still uncommitted.
func drain(ctx context.Context, tr *tracker, d time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for tr.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

func progress(ctx context.Context, done <-chan struct{}, log *slog.Logger, tr *tracker, s *sender) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
			log.Info("loadgen: progress", "elapsed", time.Since(tr.base).Round(time.Second),
				"sent", s.sent.Load(), "in_flight", tr.inflight.Load())
		}
	}
}

// verify checks the receipts of up to verifySample random committed
// transactions; it returns how many had status 1 and how many did not.
func verify(ctx context.Context, c *rpc.Client, hashes []common.Hash, out []outcome, seed uint64, timeout time.Duration, log *slog.Logger) (ok, bad int) {
	var committed []int
	for i, o := range out {
		if o.commitAt != 0 {
			committed = append(committed, i)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x766572696679)) // "verify"
	rng.Shuffle(len(committed), func(i, j int) { committed[i], committed[j] = committed[j], committed[i] })
	committed = committed[:min(len(committed), verifySample)]
	if len(committed) == 0 {
		return 0, 0
	}
	rs := make([]*receipt, len(committed))
	elems := make([]rpc.BatchElem, len(committed))
	for j, i := range committed {
		elems[j] = rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{hashes[i]}, Result: &rs[j]}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.BatchCallContext(cctx, elems); err != nil {
		log.Warn("loadgen: receipt check failed", "err", err)
		return 0, len(committed)
	}
	for j, e := range elems {
		switch {
		case e.Error != nil:
			log.Warn("loadgen: receipt", "tx", hashes[committed[j]], "err", e.Error)
			bad++
		case rs[j] == nil || rs[j].Status != 1:
			log.Warn("loadgen: committed transaction has no successful receipt", "tx", hashes[committed[j]])
			bad++
		default:
			ok++
		}
	}
	return ok, bad
}

// clients are the RPC connections of a run.
type clients struct {
	http  []*rpc.Client
	watch *rpc.Client
	send  []*rpc.Client // by endpoint: the HTTP clients, or one WebSocket
	own   []*rpc.Client
}

func dial(ctx context.Context, cfg Config) (*clients, error) {
	cl := &clients{}
	// A shared transport with enough idle connections for every sender, so
	// requests reuse connections instead of churning through new ones.
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        cfg.Senders * len(cfg.HTTPURLs),
		MaxIdleConnsPerHost: cfg.Senders,
		IdleConnTimeout:     time.Minute,
	}}
	open := func(url string, opts ...rpc.ClientOption) (*rpc.Client, error) {
		cctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
		defer cancel()
		c, err := rpc.DialOptions(cctx, url, opts...)
		if err != nil {
			return nil, fmt.Errorf("loadgen: dial %s: %w", url, err)
		}
		cl.own = append(cl.own, c)
		return c, nil
	}
	for _, u := range cfg.HTTPURLs {
		c, err := open(u, rpc.WithHTTPClient(hc))
		if err != nil {
			cl.close()
			return nil, err
		}
		cl.http = append(cl.http, c)
	}
	var err error
	if cl.watch, err = open(cfg.WSURL); err != nil {
		cl.close()
		return nil, err
	}
	if !cl.watch.SupportsSubscriptions() {
		cl.close()
		return nil, fmt.Errorf("%w: %s does not support subscriptions", ErrConfig, cfg.WSURL)
	}
	cl.send = cl.http
	if cfg.Transport == TransportWS {
		// Its own connection, so sends do not queue behind block fetches.
		ws, err := open(cfg.WSURL)
		if err != nil {
			cl.close()
			return nil, err
		}
		cl.send = []*rpc.Client{ws}
	}
	return cl, nil
}

func (cl *clients) close() {
	for _, c := range cl.own {
		c.Close()
	}
}
