package loadgen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/rpc"
)

// Report is the outcome of a run. Counts and rates cover the measured window
// only; durations marshal to JSON as nanoseconds.
type Report struct {
	Transport   string  `json:"transport"`
	Endpoints   int     `json:"endpoints"`
	Accounts    int     `json:"accounts"`
	SendBatch   int     `json:"send_batch"`
	Seed        uint64  `json:"seed"`
	TargetRate  float64 `json:"target_rate,omitempty"` // open loop
	Concurrency int     `json:"concurrency,omitempty"` // closed loop

	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`

	// Sent is how many transactions were submitted in the window, including
	// those the node rejected.
	Sent int `json:"sent"`
	// Committed is how many of our transactions were committed in the
	// window, whenever they were sent.
	Committed int `json:"committed"`
	// Uncommitted is how many accepted transactions sent in the window had
	// not committed when the run ended.
	Uncommitted int `json:"uncommitted"`
	// ErrorCount is the number of rejected sends in the window; Errors
	// counts them by message, with transaction-specific details cut off.
	ErrorCount int            `json:"error_count"`
	Errors     map[string]int `json:"errors,omitempty"`
	// Blocks is the number of blocks announced in the window.
	Blocks int `json:"blocks"`

	CommittedTPS float64 `json:"committed_tps"`
	SendRate     float64 `json:"send_rate"`
	// Latency is submit-to-commit of transactions sent in the window.
	Latency Latency `json:"latency"`

	// FellBehind reports that the generator could not keep the target rate,
	// so the node was offered less load than asked for.
	FellBehind bool `json:"fell_behind,omitempty"`
	// Exhausted reports that all pre-signed transactions were used before
	// the window ended, so sending stopped early.
	Exhausted bool `json:"exhausted,omitempty"`

	// Verified receipts of a random sample of committed transactions had
	// status 1; VerifyFailures did not (missing or failed receipt).
	Verified       int `json:"verified"`
	VerifyFailures int `json:"verify_failures"`

	// CPU is what the window cost the nodes and the generator; nil if the
	// run ended before the window did.
	CPU *CPU `json:"cpu,omitempty"`

	// Intervals slice the window (Config.Interval); empty unless asked for.
	Intervals []Interval `json:"intervals,omitempty"`
}

// Interval is one slice of the measured window.
type Interval struct {
	// Start is where the slice begins, measured from the window's start.
	Start time.Duration `json:"start_ns"`
	// Sent counts transactions sent in the slice; Latency is theirs.
	Sent    int     `json:"sent"`
	Latency Latency `json:"latency"`
	// Committed counts our transactions committed in the slice, whenever
	// they were sent.
	Committed    int     `json:"committed"`
	CommittedTPS float64 `json:"committed_tps"`
	// NodeCores and CPUPerTx are the window's CPU figures (CPU) for this
	// slice alone; zero when the nodes do not tell their CPU.
	NodeCores float64       `json:"node_cores,omitempty"`
	CPUPerTx  time.Duration `json:"cpu_per_tx_ns,omitempty"`
}

// Latency summarises submit-to-commit times.
type Latency struct {
	Samples int           `json:"samples"`
	Mean    time.Duration `json:"mean_ns"`
	P50     time.Duration `json:"p50_ns"`
	P95     time.Duration `json:"p95_ns"`
	P99     time.Duration `json:"p99_ns"`
	Max     time.Duration `json:"max_ns"`
}

// window is the measured interval, in nanoseconds since the run's base time.
type window struct{ start, end int64 }

func (w window) contains(t int64) bool { return t != 0 && t >= w.start && t < w.end }

func (w window) seconds() float64 { return time.Duration(w.end - w.start).Seconds() }

// summarize fills the counts, rates and latency of r from per-transaction
// outcomes and the blocks seen.
func summarize(r *Report, out []outcome, blocks []blockSeen, w window) {
	var lat []time.Duration
	for _, o := range out {
		if w.contains(o.commitAt) {
			r.Committed++
		}
		if !w.contains(o.sentAt) {
			continue
		}
		r.Sent++
		switch {
		case o.commitAt != 0:
			lat = append(lat, o.latency())
		case !o.failed:
			r.Uncommitted++
		}
	}
	for _, b := range blocks {
		if w.contains(b.at) {
			r.Blocks++
		}
	}
	if s := w.seconds(); s > 0 {
		r.CommittedTPS = float64(r.Committed) / s
		r.SendRate = float64(r.Sent) / s
	}
	r.Latency = latency(lat)
}

// intervals slices w into spans of every (the last one may be shorter)
// and summarises each like summarize does the whole window.
func intervals(out []outcome, w window, every time.Duration) []Interval {
	if every <= 0 || w.end <= w.start {
		return nil
	}
	n := int((w.end - w.start + int64(every) - 1) / int64(every))
	slot := func(t int64) int {
		if !w.contains(t) {
			return -1
		}
		return int((t - w.start) / int64(every))
	}
	lat := make([][]time.Duration, n)
	iv := make([]Interval, n)
	for _, o := range out {
		if i := slot(o.commitAt); i >= 0 {
			iv[i].Committed++
		}
		if i := slot(o.sentAt); i >= 0 {
			iv[i].Sent++
			if o.commitAt != 0 {
				lat[i] = append(lat[i], o.latency())
			}
		}
	}
	for i := range iv {
		iv[i].Start = time.Duration(i) * every
		span := window{start: w.start + int64(iv[i].Start), end: min(w.end, w.start+int64(iv[i].Start+every))}
		iv[i].CommittedTPS = float64(iv[i].Committed) / span.seconds()
		iv[i].Latency = latency(lat[i])
	}
	return iv
}

// latency sorts d in place and summarises it.
func latency(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum float64
	for _, x := range d {
		sum += float64(x)
	}
	return Latency{
		Samples: len(d),
		Mean:    time.Duration(sum / float64(len(d))),
		P50:     percentile(d, 50),
		P95:     percentile(d, 95),
		P99:     percentile(d, 99),
		Max:     d[len(d)-1],
	}
}

// percentile is the nearest-rank p-th percentile of sorted: the smallest
// value with at least p% of the samples at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// fellBehind reports whether sent is short of what rate demands over
// elapsed by more than 5% (and more than one batch, so tiny runs with
// rounding do not count).
func fellBehind(rate float64, elapsed time.Duration, sent, batch int) bool {
	want := rate * elapsed.Seconds()
	short := want - float64(sent)
	return short > 0.05*want && short > float64(batch)
}

const (
	maxErrorKeys   = 32
	maxErrorKeyLen = 100
	otherErrors    = "other errors"
)

// errorCounter counts errors by key, bounded to maxErrorKeys keys.
type errorCounter map[string]int

func (c errorCounter) add(key string, n int) {
	if _, ok := c[key]; !ok && len(c) >= maxErrorKeys {
		key = otherErrors
	}
	c[key] += n
}

// elemErrorKey groups a per-transaction JSON-RPC error by its message up to
// the first colon, which is where go-ethereum starts the transaction's
// details ("nonce too low: next nonce 5, tx nonce 3").
func elemErrorKey(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, ':'); i > 0 {
		msg = msg[:i]
	}
	return truncate(msg)
}

// requestErrorKey groups an error of a whole request (every transaction in
// the batch failed with it) by its cause, without URLs or addresses.
func requestErrorKey(err error) string {
	var he rpc.HTTPError
	switch {
	case errors.As(err, &he):
		return truncate("request failed: HTTP " + he.Status)
	case errors.Is(err, context.DeadlineExceeded):
		return "request failed: timeout"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return truncate("request failed: " + msg)
}

func truncate(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxErrorKeyLen {
		s = s[:maxErrorKeyLen]
	}
	return s
}

// String prints the report as a compact table.
func (r *Report) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	load := fmt.Sprintf("concurrency %d", r.Concurrency)
	if r.TargetRate > 0 {
		load = fmt.Sprintf("rate %.0f tx/s", r.TargetRate)
	}
	fmt.Fprintf(tw, "load\t%s over %s (%d endpoint(s), batch %d), %d accounts, %s\n",
		load, r.Transport, r.Endpoints, r.SendBatch, r.Accounts, windowText(r))
	fmt.Fprintf(tw, "sent\t%d\t%.1f tx/s\n", r.Sent, r.SendRate)
	fmt.Fprintf(tw, "committed\t%d\t%.1f tx/s in %d blocks\n", r.Committed, r.CommittedTPS, r.Blocks)
	fmt.Fprintf(tw, "uncommitted\t%d\t\n", r.Uncommitted)
	fmt.Fprintf(tw, "errors\t%d\t\n", r.ErrorCount)
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(tw, "\t%d\t%s\n", r.Errors[k], k)
	}
	l := r.Latency
	fmt.Fprintf(tw, "latency\tp50 %s\tp95 %s  p99 %s  max %s  mean %s  (%d samples)\n",
		ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max), ms(l.Mean), l.Samples)
	fmt.Fprintf(tw, "receipts\t%d/%d\tsampled receipts with status 1\n", r.Verified, r.Verified+r.VerifyFailures)
	if c := r.CPU; c != nil {
		nodes := "nodes: no " + cpuMetric + " on /metrics"
		if c.Nodes > 0 {
			nodes = fmt.Sprintf("nodes %.2f cores, %.0fµs per committed tx (%d of %d endpoints tell their CPU)",
				c.NodeCores, float64(c.PerTx)/float64(time.Microsecond), c.Nodes, c.Asked)
		}
		fmt.Fprintf(tw, "cpu\t%s; generator %.2f cores\n", nodes, c.GeneratorCores)
	}
	tw.Flush()
	if len(r.Intervals) > 0 {
		withCPU := slices.ContainsFunc(r.Intervals, func(iv Interval) bool { return iv.NodeCores > 0 })
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "from\tsent\tcommitted\ttx/s\tp50\tp99\tmax\t")
		if withCPU {
			fmt.Fprintf(tw, "cores\tcpu/tx\t")
		}
		fmt.Fprintln(tw)
		for _, iv := range r.Intervals {
			l := iv.Latency
			fmt.Fprintf(tw, "+%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t",
				iv.Start, iv.Sent, iv.Committed, iv.CommittedTPS, ms(l.P50), ms(l.P99), ms(l.Max))
			switch {
			case withCPU && iv.NodeCores > 0:
				fmt.Fprintf(tw, "%.2f\t%.0fµs\t", iv.NodeCores, float64(iv.CPUPerTx)/float64(time.Microsecond))
			case withCPU:
				fmt.Fprintf(tw, "-\t-\t")
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	if r.FellBehind {
		fmt.Fprintf(&b, "WARNING: the generator fell behind the target rate (sent %.1f of %.0f tx/s)\n", r.SendRate, r.TargetRate)
	}
	if r.Exhausted {
		b.WriteString("WARNING: ran out of pre-signed transactions before the window ended; raise Txs\n")
	}
	return b.String()
}

func windowText(r *Report) string {
	if r.Warmup > 0 {
		return fmt.Sprintf("window %s after %s warmup", r.Duration, r.Warmup)
	}
	return fmt.Sprintf("window %s", r.Duration)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
