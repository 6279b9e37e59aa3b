package e2e

import (
	"context"
	"fmt"
	"math/big"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/govapi"
	"github.com/ethereum/go-ethereum/common"
)

// coco runs the CLI and returns its combined output and error.
func coco(args ...string) (string, error) {
	out, err := exec.Command(cocoBin, args...).CombinedOutput()
	return string(out), err
}

// govAs runs `coco gov` as a member of nw against node i.
func (nw *network) govAs(i int, member string, args ...string) (string, error) {
	base := []string{"gov", "--node", nw.nodes[i].url, "--as", member}
	return coco(append(base, args...)...)
}

// Members of a four-node network add a member by proposal and ballots sent
// to different nodes; every node applies it; bad requests are refused with
// their reason; afterwards the ledger files of a stopped node replay every
// step with valid signatures.
func TestGovernanceAcrossNodes(t *testing.T) {
	nw := newNetwork(t, 4, "tee")
	member := func(i int) string { return filepath.Join(nw.dir, "members", fmt.Sprintf("member%d", i)) }
	dana := filepath.Join(t.TempDir(), "dana")
	if out, err := coco("keys", "new", "member", "--out", dana); err != nil {
		t.Fatalf("keys new: %v\n%s", err, out)
	}

	out, err := nw.govAs(0, member(0), "propose", "add-member", dana+".pem", "org=dana-corp")
	if err != nil {
		t.Fatalf("propose: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`proposal ([0-9a-f]{64}): open`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("propose output: %s", out)
	}
	id := m[1]
	if out, err := nw.govAs(1, member(1), "vote", id[:10], "accept"); err != nil || !strings.Contains(out, "is open") {
		t.Fatalf("first ballot: %v\n%s", err, out)
	}
	if out, err := nw.govAs(1, member(1), "vote", id[:10], "reject"); err == nil || !strings.Contains(out, "already voted accept") {
		t.Fatalf("double vote: %v\n%s", err, out)
	}
	if out, err := nw.govAs(2, dana, "vote", id, "accept"); err == nil || !strings.Contains(out, "not an active member") {
		t.Fatalf("vote by a non-member: %v\n%s", err, out)
	}
	if out, err := nw.govAs(2, member(2), "vote", id, "accept"); err != nil || !strings.Contains(out, "is accepted") {
		t.Fatalf("deciding ballot: %v\n%s", err, out)
	}
	if out, err := nw.govAs(3, member(0), "vote", id, "accept"); err == nil || !strings.Contains(out, "accepted, not open") {
		t.Fatalf("vote on a closed proposal: %v\n%s", err, out)
	}
	if out, err := nw.govAs(3, member(0), "propose", "set-params", "trust_model=none"); err == nil || !strings.Contains(out, "trust_model") {
		t.Fatalf("invalid action: %v\n%s", err, out)
	}

	// Every node has the new member, with the data the proposal gave.
	waitUntil(t, 10*time.Second, "every node applies the proposal", func() bool {
		for _, nd := range nw.nodes {
			var ms []gov.Member
			c := &govapi.Client{URL: nd.url}
			if err := c.Get(context.Background(), "/members", &ms); err != nil || len(ms) != 4 {
				return false
			}
		}
		return true
	})
	var ms []gov.Member
	_ = (&govapi.Client{URL: nw.nodes[3].url}).Get(context.Background(), "/members", &ms)
	found := false
	for _, mb := range ms {
		found = found || (mb.Name == "dana" && mb.Status == gov.MemberActive && mb.Data["org"] == "dana-corp")
	}
	if !found {
		t.Fatalf("members on node 3: %+v", ms)
	}
	// The new member acts at once, through any node.
	if out, err := nw.govAs(3, dana, "propose", "set-user", "0x00000000000000000000000000000000000000aa", "auditor"); err != nil {
		t.Fatalf("new member proposes: %v\n%s", err, out)
	}
	if out, err := nw.govAs(0, member(0), "list"); err != nil || !strings.Contains(out, "set_user") || !strings.Contains(out, "0 accept, 0 reject") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	// The trust model is a network parameter: switched by a proposal, every
	// node follows and transactions keep committing.
	out, err = nw.govAs(1, member(0), "propose", "set-params", "trust_model=bft")
	m = regexp.MustCompile(`proposal ([0-9a-f]{64}): open`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("propose trust model: %v\n%s", err, out)
	}
	for i := range 3 { // four members now: three make a majority
		if out, err := nw.govAs(i, member(i), "vote", m[1], "accept"); err != nil {
			t.Fatalf("vote: %v\n%s", err, out)
		}
	}
	waitUntil(t, 10*time.Second, "every node on the bft trust model", func() bool {
		for _, nd := range nw.nodes {
			if st, err := nd.status(); err != nil || st.TrustModel != "bft" {
				return false
			}
		}
		return true
	})
	tx := signTransfer(devKeys[4], 0, common.HexToAddress("0x000000000000000000000000000000000000feed"), big.NewInt(1), nil)
	nw.nodes[1].send(tx)
	nw.nodes[3].mustReceipt(tx.Hash())
	nw.assertSameChain(10 * time.Second)

	nw.stopAll()
	out, err = coco("gov", "audit", "--data-dir", filepath.Join(nw.dir, "node3"), "--genesis", filepath.Join(nw.dir, "genesis.json"))
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	// Ordered: proposal, two ballots, the set_user proposal, the trust
	// model proposal and its three ballots. Requests
	// refused at a node's door (double vote, stranger, closed proposal,
	// invalid action) never reached the ledger.
	if !strings.Contains(out, "audit ok: 8 governance requests") || strings.Count(out, "refused") != 0 {
		t.Fatalf("audit output:\n%s", out)
	}
}
