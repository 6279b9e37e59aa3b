package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/cocoledger/coco/testnet/loadgen"
)

// The load generator against a dev node, as `make bench` runs it: it funds
// its senders, sends at a fixed rate, sees what it sent commit, checks a
// sample of receipts and reports the node's CPU per transaction, read from
// the node's /metrics, and each second of the window.
func TestBenchEthReportsCommitsAndCPU(t *testing.T) {
	n := startDev(t, t.TempDir())
	cmd := exec.Command(cocoBin, "bench", "eth", "--rpc", n.URL, "--rate", "200",
		"--warmup", "1s", "--duration", "3s", "--interval", "1s", "--accounts", "20", "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("coco bench eth: %v\n%s", err, stderr.String())
	}
	var r loadgen.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if r.Sent == 0 || r.Committed == 0 || r.Uncommitted != 0 || r.ErrorCount != 0 {
		t.Errorf("sent %d, committed %d, uncommitted %d, errors %v", r.Sent, r.Committed, r.Uncommitted, r.Errors)
	}
	if r.Verified == 0 || r.VerifyFailures != 0 {
		t.Errorf("receipts: %d good, %d bad", r.Verified, r.VerifyFailures)
	}
	if r.Latency.Samples == 0 || r.Latency.P99 <= 0 {
		t.Errorf("latency %+v", r.Latency)
	}
	if c := r.CPU; c == nil || c.Nodes != 1 || c.Asked != 1 || c.NodeCores <= 0 || c.PerTx <= 0 {
		t.Errorf("cpu %+v, want the node's CPU per transaction", c)
	}
	sent := 0
	for _, iv := range r.Intervals {
		sent += iv.Sent
	}
	if len(r.Intervals) != 3 || sent != r.Sent || r.Intervals[2].Start != 2*time.Second {
		t.Errorf("%d intervals sending %d of %d transactions, want 3 one-second slices of the window", len(r.Intervals), sent, r.Sent)
	}
	for _, iv := range r.Intervals {
		if iv.NodeCores <= 0 || (iv.Committed > 0) != (iv.CPUPerTx > 0) {
			t.Errorf("slice +%v: %.2f cores, %v per transaction for %d committed, want the slice's own CPU figures", iv.Start, iv.NodeCores, iv.CPUPerTx, iv.Committed)
		}
	}
	if t.Failed() {
		t.Logf("report: %s\nlog:\n%s", out, stderr.String())
	}
}
