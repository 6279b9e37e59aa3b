package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/rpc"
)

func ms2d(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	d := ms2d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for _, c := range []struct {
		p    float64
		want int
	}{{50, 5}, {90, 9}, {95, 10}, {99, 10}, {100, 10}, {10, 1}, {0, 1}, {11, 2}} {
		if got := percentile(d, c.p); got != time.Duration(c.want)*time.Millisecond {
			t.Errorf("p%v = %s, want %dms", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
	one := ms2d(42)
	if percentile(one, 1) != 42*time.Millisecond || percentile(one, 99) != 42*time.Millisecond {
		t.Error("single sample is not every percentile")
	}
}

func TestLatencyUnsortedInput(t *testing.T) {
	l := latency(ms2d(30, 10, 20, 40))
	want := Latency{Samples: 4, Mean: 25 * time.Millisecond, P50: 20 * time.Millisecond,
		P95: 40 * time.Millisecond, P99: 40 * time.Millisecond, Max: 40 * time.Millisecond}
	if l != want {
		t.Errorf("latency = %+v, want %+v", l, want)
	}
	if (latency(nil) != Latency{}) {
		t.Error("latency of nothing is not zero")
	}
}

func TestSummarize(t *testing.T) {
	s := int64(time.Second)
	w := window{start: 10 * s, end: 20 * s} // 10 s window
	out := []outcome{
		{sentAt: 5 * s, commitAt: 11 * s},                     // warmup send, commits in window
		{sentAt: 12 * s, commitAt: 13 * s},                    // 1 s
		{sentAt: 14 * s, commitAt: 14*s + s/2},                // 0.5 s
		{sentAt: 19 * s, commitAt: 21 * s},                    // commits in the drain: 2 s
		{sentAt: 15 * s, failed: true},                        // rejected
		{sentAt: 16 * s},                                      // never committed
		{sentAt: 20 * s, commitAt: 20*s + 1},                  // sent after the window
		{},                                                    // never sent
		{sentAt: 17 * s, commitAt: 18 * s, failed: false},     // 1 s
		{sentAt: 18 * s, commitAt: 18*s + s/10, failed: true}, // rejected, then committed anyway: counts
	}
	blocks := []blockSeen{{at: 9 * s}, {at: 10 * s}, {at: 19 * s}, {at: 20 * s}}
	var r Report
	summarize(&r, out, blocks, w)
	if r.Sent != 7 {
		t.Errorf("Sent = %d, want 7", r.Sent)
	}
	if r.Committed != 5 {
		t.Errorf("Committed = %d, want 5", r.Committed)
	}
	if r.Uncommitted != 1 {
		t.Errorf("Uncommitted = %d, want 1", r.Uncommitted)
	}
	if r.Blocks != 2 {
		t.Errorf("Blocks = %d, want 2", r.Blocks)
	}
	if r.CommittedTPS != 0.5 || r.SendRate != 0.7 {
		t.Errorf("CommittedTPS %v SendRate %v, want 0.5 and 0.7", r.CommittedTPS, r.SendRate)
	}
	if r.Latency.Samples != 5 || r.Latency.Max != 2*time.Second || r.Latency.P50 != time.Second {
		t.Errorf("latency = %+v", r.Latency)
	}
}

func TestIntervals(t *testing.T) {
	s := int64(time.Second)
	w := window{start: 10 * s, end: 20 * s} // 10 s in slices of 4 s: 4, 4 and 2 s
	out := []outcome{
		{sentAt: 9 * s, commitAt: 11 * s},       // warmup send: counted as a commit in slice 0 only
		{sentAt: 11 * s, commitAt: 11*s + s/10}, // slice 0, 100 ms
		{sentAt: 12 * s, commitAt: 15 * s},      // sent in slice 0, committed in slice 1: 3 s
		{sentAt: 13 * s, failed: true},          // slice 0, rejected: sent, no latency
		{sentAt: 19 * s, commitAt: 19*s + s/2},  // slice 2, 500 ms
		{sentAt: 19 * s, commitAt: 21 * s},      // slice 2, committed after the window: 2 s
		{sentAt: 20 * s, commitAt: 20*s + 1},    // after the window
	}
	iv := intervals(out, w, 4*time.Second)
	if len(iv) != 3 {
		t.Fatalf("%d intervals, want 3: %+v", len(iv), iv)
	}
	want := []struct {
		start           time.Duration
		sent, committed int
		tps             float64
		samples         int
		max             time.Duration
	}{
		{0, 3, 2, 0.5, 2, 3 * time.Second},
		{4 * time.Second, 0, 1, 0.25, 0, 0},
		{8 * time.Second, 2, 1, 0.5, 2, 2 * time.Second}, // the last slice is 2 s long
	}
	for i, w := range want {
		got := iv[i]
		if got.Start != w.start || got.Sent != w.sent || got.Committed != w.committed || got.CommittedTPS != w.tps ||
			got.Latency.Samples != w.samples || got.Latency.Max != w.max {
			t.Errorf("interval %d = %+v, want %+v", i, got, w)
		}
	}
	if iv := intervals(out, w, 0); iv != nil {
		t.Errorf("intervals without a length = %+v, want none", iv)
	}
}

func TestFellBehind(t *testing.T) {
	for _, c := range []struct {
		rate float64
		sent int
		want bool
	}{
		{1000, 10000, false},
		{1000, 9600, false}, // within 5%
		{1000, 9000, true},
		{1000, 12000, false},
		{1, 0, false}, // 10 short, but less than a batch
	} {
		if got := fellBehind(c.rate, 10*time.Second, c.sent, 50); got != c.want {
			t.Errorf("fellBehind(rate %v, sent %d) = %v, want %v", c.rate, c.sent, got, c.want)
		}
	}
}

func TestPacer(t *testing.T) {
	p := pacer{rate: 1000}
	if n := p.due(0); n != 0 {
		t.Errorf("due at 0 = %d", n)
	}
	if n := p.due(10 * time.Millisecond); n != 10 {
		t.Errorf("due at 10ms = %d, want 10", n)
	}
	p.issued = 10
	if n := p.due(10 * time.Millisecond); n != 0 {
		t.Errorf("due after issuing = %d, want 0", n)
	}
	// A generator that could not send for a while owes the backlog.
	if n := p.due(time.Second); n != 990 {
		t.Errorf("due at 1s = %d, want 990", n)
	}
	p.issued = 2000
	if n := p.due(time.Second); n != 0 {
		t.Errorf("due when ahead = %d, want 0", n)
	}
}

func TestTickFor(t *testing.T) {
	for _, c := range []struct {
		rate  float64
		batch int
		want  time.Duration
	}{
		{10000, 50, 5 * time.Millisecond},
		{1e6, 50, time.Millisecond},
		{10, 50, 10 * time.Millisecond},
	} {
		if got := tickFor(c.rate, c.batch); got != c.want {
			t.Errorf("tickFor(%v, %d) = %s, want %s", c.rate, c.batch, got, c.want)
		}
	}
}

type codeErr struct{ msg string }

func (e codeErr) Error() string  { return e.msg }
func (e codeErr) ErrorCode() int { return -32000 }

func TestErrorKeys(t *testing.T) {
	if k := elemErrorKey(codeErr{"nonce too low: next nonce 5, tx nonce 3"}); k != "nonce too low" {
		t.Errorf("elem key = %q", k)
	}
	if k := elemErrorKey(codeErr{"txpool is full"}); k != "txpool is full" {
		t.Errorf("elem key = %q", k)
	}
	netErr := fmt.Errorf("Post \"http://127.0.0.1:1\": dial tcp 127.0.0.1:1: connect: %w", errors.New("connection refused"))
	if k := requestErrorKey(netErr); k != "request failed: connection refused" {
		t.Errorf("request key = %q", k)
	}
	if k := requestErrorKey(fmt.Errorf("wrapped: %w", context.DeadlineExceeded)); k != "request failed: timeout" {
		t.Errorf("timeout key = %q", k)
	}
	if k := requestErrorKey(rpc.HTTPError{StatusCode: 503, Status: "503 Service Unavailable", Body: []byte("busy: 0x12")}); k != "request failed: HTTP 503 Service Unavailable" {
		t.Errorf("HTTP key = %q", k)
	}
	if k := elemErrorKey(errors.New(strings.Repeat("x", 500))); len(k) != maxErrorKeyLen {
		t.Errorf("long key has %d bytes", len(k))
	}
}

func TestErrorCounterBounded(t *testing.T) {
	c := errorCounter{}
	for i := range maxErrorKeys + 10 {
		c.add(fmt.Sprintf("e%d", i), 1)
	}
	c.add("e0", 2)
	if len(c) != maxErrorKeys+1 {
		t.Errorf("%d keys, want %d", len(c), maxErrorKeys+1)
	}
	if c[otherErrors] != 10 || c["e0"] != 3 {
		t.Errorf("other = %d, e0 = %d", c[otherErrors], c["e0"])
	}
}

func TestReportStringAndJSON(t *testing.T) {
	r := &Report{
		Transport: "http", Endpoints: 4, Accounts: 1000, SendBatch: 50, TargetRate: 5000,
		Warmup: 5 * time.Second, Duration: 30 * time.Second,
		Sent: 150000, Committed: 149000, ErrorCount: 12, Errors: map[string]int{"txpool is full": 12},
		CommittedTPS: 4966.7, SendRate: 5000, Blocks: 60,
		Latency:    Latency{Samples: 148000, P50: 420 * time.Millisecond, P99: 900 * time.Millisecond, Max: 1200 * time.Millisecond},
		FellBehind: true, Verified: 100,
		CPU: &CPU{Nodes: 3, Asked: 4, NodeCores: 1.5, PerTx: 302 * time.Microsecond, GeneratorCores: 0.08},
		Intervals: []Interval{
			{Start: 0, Sent: 5000, Committed: 4990, CommittedTPS: 4990, Latency: Latency{Samples: 4990, P50: 130 * time.Millisecond, P99: 210 * time.Millisecond, Max: 250 * time.Millisecond}},
			{Start: time.Second, Sent: 5000, Committed: 3100, CommittedTPS: 3100, Latency: Latency{Samples: 5000, P50: 700 * time.Millisecond, P99: 1100 * time.Millisecond, Max: 1200 * time.Millisecond},
				NodeCores: 1.8, CPUPerTx: 580 * time.Microsecond},
		},
	}
	s := r.String()
	for _, want := range []string{"rate 5000 tx/s", "4966.7 tx/s", "txpool is full", "p50 420.0ms", "p99 900.0ms",
		"100/100", "fell behind", "window 30s after 5s warmup",
		"nodes 1.50 cores, 302µs per committed tx (3 of 4 endpoints tell their CPU); generator 0.08 cores",
		"from  sent  committed  tx/s", "+1s  5000       3100  3100  700.0ms  1100.0ms  1200.0ms", "max  cores  cpu/tx"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "+1s" && (len(f) != 9 || f[7] != "1.80" || f[8] != "580µs") {
			t.Errorf("the slice with CPU figures reads %q, want cores 1.80 and 580µs per transaction last", line)
		}
		if len(f) > 0 && f[0] == "+0s" && (len(f) != 9 || f[7] != "-" || f[8] != "-") {
			t.Errorf("the slice without CPU figures reads %q, want - in the CPU columns", line)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Latency != r.Latency || back.Committed != r.Committed || back.Errors["txpool is full"] != 12 || back.Duration != r.Duration ||
		back.CPU == nil || *back.CPU != *r.CPU || len(back.Intervals) != 2 || back.Intervals[1] != r.Intervals[1] {
		t.Errorf("JSON round trip lost data: %s", b)
	}
}

func TestCPUSchedule(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		warmup, duration, every time.Duration
		want                    []time.Duration
	}{
		{3 * s, 20 * s, 0, []time.Duration{3 * s, 23 * s}},
		{s, 3 * s, s, []time.Duration{s, 2 * s, 3 * s, 4 * s}},
		{0, 2500 * time.Millisecond, s, []time.Duration{0, s, 2 * s, 2500 * time.Millisecond}}, // a shorter last slice
		{0, s, 5 * s, []time.Duration{0, s}},
	} {
		if got := cpuSchedule(c.warmup, c.duration, c.every); !slices.Equal(got, c.want) {
			t.Errorf("cpuSchedule(%v, %v, %v) = %v, want %v", c.warmup, c.duration, c.every, got, c.want)
		}
		// One sample more than slices: each slice is told its own CPU.
		w := window{start: int64(c.warmup), end: int64(c.warmup + c.duration)}
		if n := len(intervals(nil, w, c.every)); c.every > 0 && n+1 != len(cpuSchedule(c.warmup, c.duration, c.every)) {
			t.Errorf("every %v over %v: %d slices but %d samples", c.every, c.duration, n, len(cpuSchedule(c.warmup, c.duration, c.every)))
		}
	}
}
