package e2e

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

var caughtUpRE = regexp.MustCompile(`msg="caught up from snapshot".* peer=(\d+) height=(\d+) keys=(\d+) bytes=(\d+) duration=(\S+)`)

// startEnv restarts node nd like netNode.start, with extra environment
// variables (configuration overrides).
func (nd *netNode) startEnv(env ...string) {
	t := nd.nw.t
	t.Helper()
	if nd.proc != nil {
		t.Fatalf("node %d is already running", nd.i)
	}
	cfg := fmt.Sprintf("%s/node%d/config.yaml", nd.nw.dir, nd.i)
	nd.proc = launchWith(t, cocoBin, env, nd.logPath, []string{"node", "start", "--config", cfg, "--pprof"}, func(line string) bool {
		return strings.HasPrefix(line, " Trust model")
	})
}

// A follower killed while the others commit comes back far behind (with a
// low node.snapshot_after): it imports a peer's state snapshot instead of
// executing the missing blocks, then holds the same head, the same chain
// and balances as the others, serves every receipt they served, and keeps
// committing new transactions.
func TestSnapshotCatchUpAfterKill(t *testing.T) {
	const after = 20
	nw := newNetwork(t, 4, "bft")
	leader := nw.leader()
	down := nw.others(leader)[2]
	survivors := nw.others(down)

	// Some state before the kill, so the snapshot carries balances the
	// node already had and ones it never saw.
	sinkBefore := common.HexToAddress("0x00000000000000000000000000000000000005a0")
	tx := signTransfer(devKeys[9], 0, sinkBefore, big.NewInt(12345), nil)
	down.send(tx)
	down.mustReceipt(tx.Hash())
	nw.settle(30 * time.Second)

	down.kill()
	killedAt := survivors[0].mustStatus().Height
	l := nw.startLoad(devKeys[2:6], survivors)
	waitUntil(t, 30*time.Second, fmt.Sprintf("the others %d blocks past the kill", 3*after), func() bool {
		st, err := survivors[0].status()
		return err == nil && st.Height >= killedAt+3*after
	})
	if errs := l.stop(); len(errs) > 0 {
		t.Fatalf("load errors: %v", errs)
	}
	ahead := survivors[0].mustStatus().Height

	logStart := len(readFile(down.logPath))
	down.startEnv(fmt.Sprintf("COCO_NODE_SNAPSHOT_AFTER=%d", after))
	log := readFile(down.logPath)[logStart:]
	m := caughtUpRE.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("node %d (killed at height %d, peers at %d) did not catch up from a snapshot; log:\n%s", down.i, killedAt, ahead, tail(log, 40))
	}
	t.Logf("node %d caught up from node %s's snapshot at height %s (killed at %d): %s keys, %s bytes, %s", down.i, m[1], m[2], killedAt, m[3], m[4], m[5])
	if strings.Contains(log, "synced blocks from peers") && strings.Index(log, "synced blocks from peers") < strings.Index(log, m[0]) {
		t.Fatal("the node synced blocks before importing the snapshot")
	}

	st := nw.assertSameChain(30 * time.Second)
	if got := down.mustStatus(); got.HeadHash != st.HeadHash || got.Height < ahead {
		t.Fatalf("node %d at height %d head %.12s; the others at %d %.12s", down.i, got.Height, got.HeadHash, st.Height, st.HeadHash)
	}
	ctx := ctxT(t, time.Minute)
	accounts := []common.Address{sinkBefore, sink, common.HexToAddress("0x000000000000000000000000000000000000feed")}
	for _, k := range devKeys[2:10] {
		accounts = append(accounts, crypto.PubkeyToAddress(k.PublicKey))
	}
	at := new(big.Int).SetUint64(st.EthBlock)
	for _, a := range accounts {
		want, err := survivors[0].eth.BalanceAt(ctx, a, at)
		if err != nil {
			t.Fatal(err)
		}
		got, err := down.eth.BalanceAt(ctx, a, at)
		if err != nil {
			t.Fatalf("node %d: balance of %s at block %d: %v", down.i, a, st.EthBlock, err)
		}
		if got.Cmp(want) != 0 {
			t.Fatalf("node %d: balance of %s at block %d is %v, node %d says %v", down.i, a, st.EthBlock, got, survivors[0].i, want)
		}
	}
	if bal, _ := down.eth.BalanceAt(ctx, sinkBefore, nil); bal.Int64() != 12345 {
		t.Fatalf("node %d: balance set before the kill is %v, want 12345", down.i, bal)
	}

	// It keeps committing: transactions through it and through the others.
	for k := range 5 {
		from := devKeys[9]
		nonce, err := down.eth.PendingNonceAt(ctx, crypto.PubkeyToAddress(from.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		via := down
		if k%2 == 1 {
			via = survivors[k%3]
		}
		tx := signTransfer(from, nonce, sink, big.NewInt(1), nil)
		via.send(tx)
		via.mustReceipt(tx.Hash())
		if r := down.receiptWithin(tx.Hash(), 30*time.Second); r == nil {
			t.Fatalf("node %d serves no receipt for %s after the catch-up", down.i, tx.Hash())
		}
	}
	end := nw.assertSameChain(30 * time.Second)
	if end.Height <= st.Height {
		t.Fatalf("no block committed after the catch-up (height %d)", end.Height)
	}
	nw.stopAll()
}
