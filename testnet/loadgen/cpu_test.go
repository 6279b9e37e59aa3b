package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const exposition = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 93
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.75
process_max_fds 1.048576e+06
`

func TestParseCPUSeconds(t *testing.T) {
	v, ok := parseCPUSeconds(bufio.NewScanner(strings.NewReader(exposition)))
	if !ok || v != 12.75 {
		t.Fatalf("got %v %v, want 12.75", v, ok)
	}
	if v, ok := parseCPUSeconds(bufio.NewScanner(strings.NewReader("process_cpu_seconds_total 3.5 1700000000000\n"))); !ok || v != 3.5 {
		t.Fatalf("with a timestamp: got %v %v, want 3.5", v, ok)
	}
	for _, text := range []string{"", "process_cpu_seconds_total_extra 3\n", "process_cpu_seconds_total x\n", "process_cpu_seconds_total \n", "# process_cpu_seconds_total 3\n"} {
		if v, ok := parseCPUSeconds(bufio.NewScanner(strings.NewReader(text))); ok {
			t.Errorf("%q: got %v, want no value", text, v)
		}
	}
}

func TestMetricsURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8545":         "http://127.0.0.1:8545/metrics",
		"http://127.0.0.1:8545/":        "http://127.0.0.1:8545/metrics",
		"https://u:p@node.example/rpc":  "https://u:p@node.example/metrics",
		"http://127.0.0.1:8545?x=1#top": "http://127.0.0.1:8545/metrics",
	} {
		if got := metricsURL(in); got != want {
			t.Errorf("metricsURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := metricsURL("127.0.0.1:8545"); got != "" {
		t.Errorf("a URL without scheme and host gave %q", got)
	}
}

// A probe over three endpoints: one serving a counter that grows by 0.5 s
// per read, one without /metrics, one not listening. Only the first counts.
func TestCPUProbe(t *testing.T) {
	var reads atomic.Int64
	withMetrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "process_cpu_seconds_total %g\n", 10+0.5*float64(reads.Add(1)-1))
	}))
	defer withMetrics.Close()
	without := httptest.NewServer(http.NotFoundHandler())
	defer without.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	p := newCPUProbe([]string{withMetrics.URL, without.URL, down.URL, withMetrics.URL}, 2*time.Second)
	if len(p.urls) != 3 {
		t.Fatalf("probe reads %d endpoints, want 3 (duplicates once)", len(p.urls))
	}
	a := p.sample(context.Background())
	b := p.sample(context.Background())
	c := cpuBetween(a, b, 2*time.Second, 1000)
	if c.Nodes != 1 || c.Asked != 3 || c.NodeCores != 0.25 || c.PerTx != 500*time.Microsecond {
		t.Errorf("got %+v, want 1 node of 3, 0.25 cores, 500µs per tx", c)
	}
	if c.GeneratorCores < 0 {
		t.Errorf("generator cores %v", c.GeneratorCores)
	}
}

func TestCPUBetweenCountsNodesSeenTwice(t *testing.T) {
	a := cpuSample{nodes: []float64{1, -1, 5}, self: time.Second}
	b := cpuSample{nodes: []float64{3, 7, -1}, self: 2 * time.Second}
	c := cpuBetween(a, b, 4*time.Second, 0)
	if c.Nodes != 1 || c.NodeCores != 0.5 || c.PerTx != 0 || c.GeneratorCores != 0.25 {
		t.Errorf("got %+v", c)
	}
	if c := cpuBetween(cpuSample{nodes: []float64{-1}}, cpuSample{nodes: []float64{2}}, time.Second, 10); c.Nodes != 0 || c.NodeCores != 0 {
		t.Errorf("a node seen once counted: %+v", c)
	}
}
