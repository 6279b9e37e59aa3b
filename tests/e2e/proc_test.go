package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cocoledger/coco/adapters/ethereum/devkeys"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

var (
	cocoBin string
	// byzBin is coco built with the `byzantine` tag: COCO_BYZANTINE makes
	// it misbehave on the bus.
	byzBin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coco-e2e-bin")
	if err != nil {
		panic(err)
	}
	cocoBin = filepath.Join(dir, "coco")
	build := exec.Command("go", "build", "-o", cocoBin, "github.com/cocoledger/coco/cmd/coco")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building coco:", err)
		os.Exit(1)
	}
	byzBin = filepath.Join(dir, "coco-byzantine")
	build = exec.Command("go", "build", "-tags", "byzantine", "-o", byzBin, "github.com/cocoledger/coco/cmd/coco")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building coco (byzantine):", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// devNode is a running coco process (`coco dev` or `coco node start`).
type devNode struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	URL     string
	WSURL   string
	banner  string
	exited  chan error
	logPath string
	// gone is set once the process has been waited for; reading
	// cmd.ProcessState instead would race with cmd.Wait.
	gone atomic.Bool
}

var urlRE = regexp.MustCompile(`JSON-RPC HTTP\s+(http://\S+)`)

// startDev starts `coco dev` on free ports over dataDir and waits for its banner.
func startDev(t *testing.T, dataDir string, extra ...string) *devNode {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "coco.log")
	args := append([]string{"dev", "--data-dir", dataDir, "--rpc-addr", "127.0.0.1:0", "--bus-listen", "127.0.0.1:0", "--log-level", "info"}, extra...)
	n := launch(t, logPath, args, func(line string) bool { return strings.Contains(line, "(9) ") })
	n.dataDir = dataDir
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("coco log (%s):\n%s", n.logPath, tail(n.log(), 60))
		}
	})
	return n
}

// launch runs the coco binary with args, appending its stderr (the log) to
// logPath, and waits until bannerEnd accepts a line of its stdout: by then
// its endpoints are listening. The process is killed at the end of the test
// if still running.
func launch(t *testing.T, logPath string, args []string, bannerEnd func(line string) bool) *devNode {
	t.Helper()
	return launchWith(t, cocoBin, nil, logPath, args, bannerEnd)
}

// launchWith runs bin with extra environment variables and waits for its
// banner.
func launchWith(t *testing.T, bin string, env []string, logPath string, args []string, bannerEnd func(line string) bool) *devNode {
	t.Helper()
	bannerDone := make(chan string, 1)
	var b strings.Builder
	sent := false
	n := startProc(t, bin, env, logPath, args, func(line string) {
		if sent {
			return
		}
		b.WriteString(line + "\n")
		if bannerEnd(line) {
			bannerDone <- b.String()
			sent = true
		}
	}, func() {
		if !sent {
			bannerDone <- b.String()
		}
	})
	select {
	case n.banner = <-bannerDone:
	case <-time.After(60 * time.Second):
		n.kill()
		t.Fatalf("coco %s printed no banner; log:\n%s", args[0], tail(n.log(), 60))
	}
	m := urlRE.FindStringSubmatch(n.banner)
	if m == nil {
		n.kill()
		t.Fatalf("no RPC URL in banner:\n%s\nlog:\n%s", n.banner, tail(n.log(), 60))
	}
	n.URL = m[1]
	n.WSURL = "ws://" + strings.TrimPrefix(n.URL, "http://")
	return n
}

// startProc runs bin with its stderr appended to logPath, handing each
// stdout line to onLine and calling onEOF when stdout closes; the process
// is killed at the end of the test if still running.
func startProc(t *testing.T, bin string, env []string, logPath string, args []string, onLine func(string), onEOF func()) *devNode {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logFile, "=== %s coco %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &devNode{t: t, cmd: cmd, exited: make(chan error, 1), logPath: logPath}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if onLine != nil {
				onLine(sc.Text())
			}
		}
		if onEOF != nil {
			onEOF()
		}
	}()
	go func() { err := cmd.Wait(); n.gone.Store(true); n.exited <- err; logFile.Close() }()
	t.Cleanup(func() {
		if !n.gone.Load() {
			n.kill()
		}
	})
	return n
}

func (n *devNode) log() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// stop sends Ctrl-C and waits for a clean exit.
func (n *devNode) stop() {
	n.t.Helper()
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-n.exited:
		if err != nil {
			n.t.Fatalf("coco exited with %v on Ctrl-C; log:\n%s", err, tail(n.log(), 40))
		}
	case <-time.After(30 * time.Second):
		n.kill()
		n.t.Fatalf("coco did not stop within 30s of Ctrl-C; log:\n%s", tail(n.log(), 40))
	}
}

// kill sends SIGKILL: no chance to flush or clean up. It also ends a
// process stopped by SIGSTOP.
func (n *devNode) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
	}
}

func (n *devNode) client(t *testing.T) *ethclient.Client {
	t.Helper()
	c, err := ethclient.Dial(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func (n *devNode) rpcClient(t *testing.T, url string) *rpc.Client {
	t.Helper()
	c, err := rpc.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var devKeys, _ = devkeys.Derive(devkeys.DevMnemonic, 10)
