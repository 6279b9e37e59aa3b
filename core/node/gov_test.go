package node

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/types"
)

// A network whose genesis leaves it closed refuses users' transactions
// until the members vote it open; the vote travels in clear and signed in
// the ledger.
func TestMembersOpenTheNetwork(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "n")
	enc, info := initNode(t, dir)
	member, err := gov.NewMemberKey("alice")
	if err != nil {
		t.Fatal(err)
	}
	params := gov.DefaultParams(TrustTEE, 1)
	params.Open = false
	g, err := NewGenesis("closed", []*Info{info}, enc, nil, TrustTEE, gov.Genesis{Members: []string{string(member.PEM())}, Params: params}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(testConfig(dir), enc, g, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	app := &hashChainApp{}
	n.Register(app)
	if err := n.Start(nil); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			n.Stop()
		}
	}()

	if err := n.Submit(types.Tx{Namespace: "test", Payload: []byte("too early")}); !errors.Is(err, ErrNetworkClosed) {
		t.Fatalf("closed network took a transaction: %v", err)
	}
	send := func(r *gov.Request) *gov.Signed {
		r.Network, r.Height = "closed", n.Head().Header.Number
		s, err := member.Sign(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := n.Gov().Check(s.Encode()); err != nil {
			t.Fatal(err)
		}
		if err := n.Submit(types.Tx{Namespace: types.GovNamespace, Payload: s.Encode()}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	proposal := send(&gov.Request{Kind: gov.KindPropose, Actions: []gov.Action{{Name: gov.ActionOpenNetwork}}})
	waitFor(t, "proposal", func() bool { _, err := n.Gov().Proposal(proposal.ID()); return err == nil })
	ballot := send(&gov.Request{Kind: gov.KindVote, Proposal: proposal.ID(), Ballot: gov.Accept})
	waitFor(t, "open", func() bool { return n.Gov().Params().Open })

	if err := n.Submit(types.Tx{Namespace: "test", Payload: []byte("welcome")}); err != nil {
		t.Fatalf("open network refused a transaction: %v", err)
	}
	waitFor(t, "user transaction", func() bool { return app.count() == 1 })

	// Both requests are in the ledger in clear, exactly as the member
	// signed them.
	found := map[string]bool{}
	for b, err := range n.Ledger().Blocks(1, n.Head().Header.Number) {
		if err != nil {
			t.Fatal(err)
		}
		for _, sb := range b.Batches {
			for _, tx := range sb.Public {
				s, _, err := gov.DecodeSigned(tx.Payload)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Verify(&member.MemberPublic); err != nil {
					t.Fatal(err)
				}
				found[s.ID()] = true
			}
		}
	}
	if !found[proposal.ID()] || !found[ballot.ID()] || len(found) != 2 {
		t.Fatalf("governance requests in the ledger: %v", found)
	}

	// The offline audit replays the same two steps from the files alone.
	height := n.Head().Header.Number
	n.Stop()
	stopped = true
	var steps []*gov.Result
	last, err := AuditGovernance(dir, g, enc, func(r *gov.Result) { steps = append(steps, r) })
	if err != nil || last != height {
		t.Fatalf("audit: %v (checked to %d of %d)", err, last, height)
	}
	if len(steps) != 2 || !steps[0].Applied || steps[1].State != gov.StateAccepted {
		t.Fatalf("audited steps %+v", steps)
	}
	other, _ := NewGenesis("other", []*Info{info}, enc, nil, TrustTEE, gov.Genesis{Members: []string{string(member.PEM())}, Params: params}, nil)
	if _, err := AuditGovernance(dir, other, enc, func(*gov.Result) {}); !errors.Is(err, ErrAudit) {
		t.Fatalf("audit against another genesis: %v", err)
	}
}
