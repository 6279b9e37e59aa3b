package loadgen

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cpuMetric is the Prometheus process collector's counter, which Coco nodes
// (and most Go and Prometheus-instrumented servers) serve on /metrics.
const cpuMetric = "process_cpu_seconds_total"

// cpuSample is CPU time used so far, by each node (seconds, by endpoint;
// negative when the node did not tell) and by this process.
type cpuSample struct {
	nodes []float64
	self  time.Duration
}

// cpuProbe reads the nodes' CPU counters from /metrics beside their
// JSON-RPC endpoints. It tells what each committed transaction cost the
// nodes, and whether the generator itself took a noticeable share of a
// machine it shares with them.
type cpuProbe struct {
	urls    []string // metrics URL by distinct endpoint; "" if it has none
	timeout time.Duration
}

func newCPUProbe(rpcURLs []string, timeout time.Duration) *cpuProbe {
	p := &cpuProbe{timeout: timeout}
	for _, u := range slices.Compact(slices.Sorted(slices.Values(rpcURLs))) {
		p.urls = append(p.urls, metricsURL(u))
	}
	return p
}

// metricsURL is /metrics on the host of a JSON-RPC URL, "" if the URL names
// no host.
func metricsURL(rpcURL string) string {
	u, err := url.Parse(rpcURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: "/metrics"}).String()
}

// sample reads every node's counter (concurrently, so the sample is close
// to one instant) and this process's CPU time.
func (p *cpuProbe) sample(ctx context.Context) cpuSample {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	s := cpuSample{nodes: make([]float64, len(p.urls))}
	var wg sync.WaitGroup
	for i, u := range p.urls {
		wg.Go(func() {
			v, ok := p.read(ctx, u)
			if !ok {
				v = -1
			}
			s.nodes[i] = v
		})
	}
	wg.Wait()
	s.self = selfCPU()
	return s
}

func (p *cpuProbe) read(ctx context.Context, u string) (float64, bool) {
	if u == "" {
		return 0, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return parseCPUSeconds(bufio.NewScanner(resp.Body))
}

// parseCPUSeconds finds the unlabelled cpuMetric sample in Prometheus text
// exposition.
func parseCPUSeconds(sc *bufio.Scanner) (float64, bool) {
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, found := strings.CutPrefix(sc.Text(), cpuMetric+" ")
		if !found {
			continue
		}
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(value, 64)
		return v, err == nil
	}
	return 0, false
}

// selfCPU is the user and system CPU time of this process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPU is what the run cost in CPU over the measured window.
type CPU struct {
	// Nodes is how many of the Asked distinct endpoints served a CPU
	// counter at both ends of the window; the node figures cover only
	// those.
	Nodes int `json:"nodes"`
	Asked int `json:"asked"`
	// NodeCores is the nodes' CPU time over the window divided by its
	// length: 1.5 means one and a half cores busy on average.
	NodeCores float64 `json:"node_cores"`
	// PerTx is the nodes' CPU time per committed transaction. With every
	// endpoint measured and every node an endpoint, it is the whole
	// network's cost of a transaction.
	PerTx time.Duration `json:"per_tx_ns"`
	// GeneratorCores is this process's CPU time over the window divided
	// by its length.
	GeneratorCores float64 `json:"generator_cores"`
}

// cpuSchedule is when, counted from the first send, the CPU counters are
// read: at both ends of the measured window and, with intervals, at every
// slice boundary, so that each slice tells its own CPU (a stall that is the
// machine's, not the network's, shows as a slice that cost more per
// transaction).
func cpuSchedule(warmup, duration, every time.Duration) []time.Duration {
	at := []time.Duration{warmup}
	if every > 0 {
		for t := every; t < duration; t += every {
			at = append(at, warmup+t)
		}
	}
	return append(at, warmup+duration)
}

// cpuBetween turns two samples into the window's CPU figures; committed is
// the number of transactions committed in it. Only nodes that told their
// CPU time at both ends count.
func cpuBetween(a, b cpuSample, window time.Duration, committed int) CPU {
	c := CPU{Asked: len(a.nodes)}
	secs := window.Seconds()
	if secs <= 0 {
		return c
	}
	c.GeneratorCores = (b.self - a.self).Seconds() / secs
	var used float64
	for i := range min(len(a.nodes), len(b.nodes)) {
		if a.nodes[i] >= 0 && b.nodes[i] >= 0 {
			c.Nodes++
			used += b.nodes[i] - a.nodes[i]
		}
	}
	if c.Nodes == 0 {
		return c
	}
	c.NodeCores = used / secs
	if committed > 0 {
		c.PerTx = time.Duration(used / float64(committed) * float64(time.Second))
	}
	return c
}
