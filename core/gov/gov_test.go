package gov

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/cocoledger/coco/core/constitution"
	"github.com/cocoledger/coco/core/shares"
	"github.com/cocoledger/coco/core/state"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave"
)

const network = "test"

// harness is one replica's governance over its own database, fed blocks.
type harness struct {
	t       *testing.T
	dir     string
	db      *state.DB
	g       *Gov
	members []*MemberKey
	results []*Result
}

func newMembers(t *testing.T, n int) []*MemberKey {
	var ks []*MemberKey
	for i := range n {
		k, err := NewMemberKey("m" + string(rune('0'+i)))
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	return ks
}

func genesisOf(members []*MemberKey) *Genesis {
	g := &Genesis{Params: DefaultParams("tee", 1), Nodes: []Node{{ID: "n1", ConsensusID: 1, Status: NodeTrusted,
		PublicKey: nodeKey.Public().(ed25519.PublicKey), EncryptionKey: nodeEnc.PublicKey().Bytes()}}}
	for _, m := range members {
		g.Members = append(g.Members, string(m.PEM()))
	}
	return g
}

func newHarness(t *testing.T, members []*MemberKey, dir string) *harness {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := state.Open(dir, state.Options{Key: bytes.Repeat([]byte{1}, state.KeySize), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, db: db, members: members}
	h.g, err = Open(db.Namespace(types.GovNamespace), network, genesisOf(members), testVerifier, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h.g.OnResult(func(r *Result) { h.results = append(h.results, r) })
	t.Cleanup(func() { db.Close() })
	return h
}

// sign makes a signed request of member i against the current height.
func (h *harness) sign(i int, r *Request) *Signed {
	h.t.Helper()
	r.Network, r.Height = network, h.g.Height()
	s, err := h.members[i].Sign(r)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// block executes the signed requests as the next block and returns their
// results.
func (h *harness) block(reqs ...*Signed) []*Result {
	h.t.Helper()
	var txs []types.Tx
	for _, s := range reqs {
		txs = append(txs, types.Tx{Namespace: types.GovNamespace, Payload: s.Encode()})
	}
	before := len(h.results)
	if _, err := h.g.Execute(h.g.Height()+1, txs, false); err != nil {
		h.t.Fatal(err)
	}
	return h.results[before:]
}

func (h *harness) propose(i int, actions ...Action) *Result {
	h.t.Helper()
	res := h.block(h.sign(i, &Request{Kind: KindPropose, Actions: actions}))
	if len(res) != 1 {
		h.t.Fatalf("%d results", len(res))
	}
	return res[0]
}

func (h *harness) vote(i int, proposal, ballot string) *Result {
	h.t.Helper()
	return h.block(h.sign(i, &Request{Kind: KindVote, Proposal: proposal, Ballot: ballot}))[0]
}

func action(name string, args any) Action {
	a := Action{Name: name}
	if args != nil {
		a.Args, _ = json.Marshal(args)
	}
	return a
}

func addMember(t *testing.T) (Action, *MemberKey) {
	k := newMembers(t, 1)[0]
	return action(ActionAddMember, AddMemberArgs{Member: string(k.PEM())}), k
}

func TestMajorityAddsMember(t *testing.T) {
	h := newHarness(t, newMembers(t, 3), "")
	add, dana := addMember(t)
	p := h.propose(0, add)
	if !p.Applied || p.State != StateOpen {
		t.Fatalf("proposal: %+v", p)
	}
	rootBefore := h.g.Root()
	if r := h.vote(0, p.Proposal, Accept); r.State != StateOpen {
		t.Fatalf("one of three accepted: %+v", r)
	}
	if r := h.vote(1, p.Proposal, Accept); !r.Applied || r.State != StateAccepted {
		t.Fatalf("two of three: %+v", r)
	}
	if h.g.Root() == rootBefore {
		t.Fatal("root unchanged by an accepted proposal")
	}
	found := false
	for _, m := range h.g.Members() {
		found = found || (m.ID == dana.ID() && m.Status == MemberActive)
	}
	if !found {
		t.Fatal("new member not in the table")
	}
	// The new member can act at once; the majority is now 3 of 4.
	h.members = append(h.members, dana)
	p3 := h.propose(3, action(ActionSetUser, UserArgs{User: "0xabc", Roles: []string{"auditor"}}))
	for i := range 2 {
		h.vote(i, p3.Proposal, Accept)
	}
	if pr, _ := h.g.Proposal(p3.Proposal); pr.State != StateOpen {
		t.Fatalf("2 of 4 is not a strict majority: %s", pr.State)
	}
	if r := h.vote(3, p3.Proposal, Accept); r.State != StateAccepted {
		t.Fatalf("3 of 4: %+v", r)
	}
	if us := h.g.Users(); len(us) != 1 || us[0].Roles[0] != "auditor" {
		t.Fatalf("users %+v", us)
	}
	if r := h.propose(1, action(ActionRemoveUser, UserArgs{User: "0xdef"})); r.Applied || !strings.Contains(r.Reason, "no user 0xdef") {
		t.Fatalf("removing an unknown user: %+v", r)
	}
	rm := h.propose(1, action(ActionRemoveUser, UserArgs{User: "0xabc"}))
	for i := range 3 {
		h.vote(i, rm.Proposal, Accept)
	}
	if us := h.g.Users(); len(us) != 0 {
		t.Fatalf("users after remove_user %+v", us)
	}
}

func TestRejectWithdrawAndClosedProposals(t *testing.T) {
	h := newHarness(t, newMembers(t, 3), "")
	add, _ := addMember(t)
	p := h.propose(0, add)
	h.vote(1, p.Proposal, Reject)
	if r := h.vote(2, p.Proposal, Reject); r.State != StateRejected {
		t.Fatalf("two rejections of three: %+v", r)
	}
	if r := h.vote(0, p.Proposal, Accept); r.Applied || !strings.Contains(r.Reason, "rejected, not open") {
		t.Fatalf("vote on a rejected proposal: %+v", r)
	}
	if len(h.g.Members()) != 3 {
		t.Fatal("rejected proposal applied")
	}
	q := h.propose(1, action(ActionOpenNetwork, nil))
	if !strings.Contains(q.Reason, "already open") {
		t.Fatalf("open_network on an open network: %+v", q)
	}
	w := h.propose(1, action(ActionSetParams, map[string]any{"min_nodes": 2}))
	if r := h.block(h.sign(0, &Request{Kind: KindWithdraw, Proposal: w.Proposal}))[0]; r.Applied || !strings.Contains(r.Reason, "only the proposer") {
		t.Fatalf("withdraw by another member: %+v", r)
	}
	if r := h.block(h.sign(1, &Request{Kind: KindWithdraw, Proposal: w.Proposal}))[0]; !r.Applied || r.State != StateWithdrawn {
		t.Fatalf("withdraw: %+v", r)
	}
	if r := h.vote(0, w.Proposal, Accept); r.Applied {
		t.Fatalf("vote on a withdrawn proposal applied: %+v", r)
	}
	if h.g.Params().MinNodes != 1 {
		t.Fatal("withdrawn proposal applied")
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	h := newHarness(t, newMembers(t, 3), "")
	add, _ := addMember(t)
	p := h.propose(0, add)
	root, height := h.g.Root(), h.g.Height()
	stranger := newMembers(t, 1)[0]

	vote := h.sign(1, &Request{Kind: KindVote, Proposal: p.Proposal, Ballot: Accept})
	forged := *vote
	forged.Signature = bytes.Clone(vote.Signature)
	forged.Signature[len(forged.Signature)-1] ^= 1
	// Member 2's key signing a request that names member 1.
	var impersonation Signed
	{
		r := &Request{Kind: KindVote, Network: network, Height: h.g.Height(), Proposal: p.Proposal, Ballot: Accept}
		s, _ := h.members[2].Sign(r)
		var body map[string]any
		_ = json.Unmarshal(s.Request, &body)
		body["member"] = h.members[1].ID()
		impersonation.Request, _ = json.Marshal(body)
		impersonation.Signature = s.Signature
	}
	strangerVote, _ := stranger.Sign(&Request{Kind: KindVote, Network: network, Height: h.g.Height(), Proposal: p.Proposal, Ballot: Accept})
	otherNet, _ := h.members[1].Sign(&Request{Kind: KindVote, Network: "other", Height: h.g.Height(), Proposal: p.Proposal, Ballot: Accept})
	future, _ := h.members[1].Sign(&Request{Kind: KindVote, Network: network, Height: h.g.Height() + 5, Proposal: p.Proposal, Ballot: Accept})
	cases := []struct {
		name   string
		s      *Signed
		reason string
	}{
		{"bad signature", &forged, "not signed by member"},
		{"signed by another member", &impersonation, "not signed by member"},
		{"not a member", strangerVote, "not an active member"},
		{"other network", otherNet, "for network \"other\""},
		{"height from the future", future, "names height"},
		{"unknown proposal", h.sign(1, &Request{Kind: KindVote, Proposal: strings.Repeat("ab", 32), Ballot: Accept}), "no proposal"},
		{"unknown action", h.sign(1, &Request{Kind: KindPropose, Actions: []Action{{Name: "make_me_king"}}}), "unknown action"},
		{"misspelt argument", h.sign(1, &Request{Kind: KindPropose, Actions: []Action{{Name: ActionRemoveMember, Args: json.RawMessage(`{"member":"x"}`)}}}), "unknown field"},
		{"constitution refuses", h.sign(1, &Request{Kind: KindPropose, Actions: []Action{action(ActionSetConstitution, constitution.Source{Validate: `""`, Resolve: `"open"`, RecoveryThreshold: 7})}}), "recovery_threshold must be between 1 and 3"},
		{"unknown node", h.sign(1, &Request{Kind: KindPropose, Actions: []Action{action(ActionTrustNode, NodeArgs{Node: "n2"})}}), "no node n2"},
	}
	for i, c := range cases {
		if _, _, err := h.g.Check(c.s.Encode()); err == nil || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: ingress check says %v, want %q", c.name, err, c.reason)
		}
		res := h.block(c.s)
		if i < 4 {
			// Not the member's: nothing is recorded under the id.
			if len(res) != 0 {
				t.Errorf("%s: result %+v recorded", c.name, res)
			}
			continue
		}
		if len(res) != 1 || res[0].Applied || !strings.Contains(res[0].Reason, c.reason) {
			t.Errorf("%s: result %+v, want refused with %q", c.name, res, c.reason)
		}
	}
	if h.g.Root() != root {
		t.Fatal("refused requests changed the governance root")
	}
	if pr, _ := h.g.Proposal(p.Proposal); len(pr.Ballots) != 0 || pr.State != StateOpen {
		t.Fatalf("refused requests changed the proposal: %+v", pr)
	}
	// Garbage is refused at ingress and skipped if ordered anyway.
	if _, _, err := h.g.Check([]byte("{not json")); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := h.g.Execute(h.g.Height()+1, []types.Tx{{Namespace: types.GovNamespace, Payload: []byte("garbage")}}, false); err != nil {
		t.Fatal(err)
	}

	// Double vote and replayed ballot.
	if r := h.block(vote); !r[0].Applied {
		t.Fatalf("vote: %+v", r[0])
	}
	again := h.sign(1, &Request{Kind: KindVote, Proposal: p.Proposal, Ballot: Reject})
	if r := h.block(again); r[0].Applied || !strings.Contains(r[0].Reason, "already voted accept") {
		t.Fatalf("double vote: %+v", r[0])
	}
	if _, _, err := h.g.Check(vote.Encode()); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replayed ballot at ingress: %v", err)
	}
	if r := h.block(vote); len(r) != 0 {
		t.Fatalf("replayed ballot produced a result: %+v", r)
	}
	if res, err := h.g.Result(vote.ID()); err != nil || !res.Applied {
		t.Fatalf("the original ballot's result was overwritten: %+v %v", res, err)
	}
	if h.g.Height() <= height {
		t.Fatal("height did not advance")
	}
}

func TestStaleRequestRefused(t *testing.T) {
	h := newHarness(t, newMembers(t, 1), "")
	old := h.sign(0, &Request{Kind: KindPropose, Actions: []Action{action(ActionSetParams, map[string]any{"min_nodes": 1})}})
	p := h.propose(0, action(ActionSetParams, map[string]any{"request_max_age": 3}))
	h.vote(0, p.Proposal, Accept)
	for range 3 {
		h.block()
	}
	if r := h.block(old); r[0].Applied || !strings.Contains(r[0].Reason, "older than 3 blocks") {
		t.Fatalf("stale request: %+v", r[0])
	}
}

func TestAcceptedProposalAppliesAllOrNothing(t *testing.T) {
	h := newHarness(t, newMembers(t, 3), "")
	target := h.members[2].ID()
	remove := action(ActionRemoveMember, MemberArgs{Member: target})
	p1 := h.propose(0, remove)
	p2 := h.propose(0, action(ActionSetUser, UserArgs{User: "carol"}), remove)
	h.vote(0, p1.Proposal, Accept)
	h.vote(1, p1.Proposal, Accept)
	h.vote(0, p2.Proposal, Accept)
	if r := h.vote(1, p2.Proposal, Accept); r.State != StateFailed {
		t.Fatalf("second removal of the same member: %+v", r)
	}
	pr, _ := h.g.Proposal(p2.Proposal)
	if !strings.Contains(pr.Reason, "action 1 (remove_member)") {
		t.Fatalf("failure reason %q", pr.Reason)
	}
	if len(h.g.Users()) != 0 {
		t.Fatal("first action of a failed proposal was applied")
	}
}

func TestConstitutionChangeNeedsUnanimity(t *testing.T) {
	h := newHarness(t, newMembers(t, 3), "")
	src := constitution.Default()
	src.RecoveryThreshold = 2
	p := h.propose(0, action(ActionSetConstitution, src))
	h.vote(0, p.Proposal, Accept)
	if r := h.vote(1, p.Proposal, Accept); r.State != StateOpen {
		t.Fatalf("a majority changed the constitution: %+v", r)
	}
	if r := h.vote(2, p.Proposal, Accept); r.State != StateAccepted {
		t.Fatalf("unanimity: %+v", r)
	}
	if h.g.Constitution().RecoveryThreshold != 2 {
		t.Fatal("constitution not replaced")
	}
	// The new constitution applies at once: two members must remain.
	rm := h.propose(0, action(ActionRemoveMember, MemberArgs{Member: h.members[2].ID()}))
	h.vote(0, rm.Proposal, Accept)
	h.vote(1, rm.Proposal, Accept)
	// The removed member holds a recovery share: removing it rotates.
	if h.g.PendingRotation() != 2 {
		t.Fatalf("pending rotation after removing a member %d, want 2", h.g.PendingRotation())
	}
	last := h.propose(0, action(ActionRemoveMember, MemberArgs{Member: h.members[1].ID()}))
	if last.Applied || !strings.Contains(last.Reason, "recovery threshold is 2") {
		t.Fatalf("removal below the recovery threshold: %+v", last)
	}
}

func TestReplicasAgreeAndReopen(t *testing.T) {
	members := newMembers(t, 3)
	a := newHarness(t, members, "")
	b := newHarness(t, members, "")
	add, _ := addMember(t)
	reqs := [][]*Signed{
		{a.sign(0, &Request{Kind: KindPropose, Actions: []Action{add}})},
	}
	for _, blk := range reqs {
		a.block(blk...)
		b.block(blk...)
	}
	id := a.results[0].Proposal
	blk := []*Signed{a.sign(0, &Request{Kind: KindVote, Proposal: id, Ballot: Accept}), a.sign(1, &Request{Kind: KindVote, Proposal: id, Ballot: Accept})}
	a.block(blk...)
	b.block(blk...)
	if a.g.Root() != b.g.Root() || a.g.Height() != b.g.Height() {
		t.Fatalf("replicas differ: %s@%d vs %s@%d", a.g.Root(), a.g.Height(), b.g.Root(), b.g.Height())
	}
	root, height, nMembers := a.g.Root(), a.g.Height(), len(a.g.Members())
	a.db.Close()
	c := newHarness(t, members, a.dir)
	if c.g.Root() != root || c.g.Height() != height || len(c.g.Members()) != nMembers {
		t.Fatalf("reopened: %s@%d %d members, want %s@%d %d", c.g.Root(), c.g.Height(), len(c.g.Members()), root, height, nMembers)
	}
	if p, err := c.g.Proposal(id); err != nil || p.State != StateAccepted || len(p.Ballots) != 2 {
		t.Fatalf("reopened proposal %+v %v", p, err)
	}
}

func TestMemberFiles(t *testing.T) {
	k := newMembers(t, 1)[0]
	priv, err := k.PrivatePEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseMemberKey(k.PEM(), priv)
	if err != nil || back.ID() != k.ID() {
		t.Fatalf("round trip: %v", err)
	}
	other := newMembers(t, 1)[0]
	if _, err := ParseMemberKey(other.PEM(), priv); !errors.Is(err, ErrMemberKey) {
		t.Fatalf("mismatched files: %v", err)
	}
	if _, err := ParseMemberPublic([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); !errors.Is(err, ErrMemberKey) {
		t.Fatalf("garbage certificate: %v", err)
	}
}

// testVerifier accepts evidence whose report says "ok".
func testVerifier(j *NodeJoin, allowed []string) (string, error) {
	if string(j.Evidence.Report) != "ok" {
		return "", errors.New("evidence: bad report")
	}
	m := hex.EncodeToString(j.Evidence.Measurement)
	if len(allowed) > 0 && !slices.Contains(allowed, m) {
		return "", errors.New("measurement not allowed")
	}
	return m, nil
}

func joinRequest(t *testing.T, h *harness, key ed25519.PrivateKey, report string) *Signed {
	t.Helper()
	pub := key.Public().(ed25519.PublicKey)
	id := sha256.Sum256(pub)
	s, err := SignJoin(key, &Request{Network: network, Height: h.g.Height(), Node: &NodeJoin{
		ID: hex.EncodeToString(id[:]), PublicKey: pub, EncryptionKey: []byte("x25519"),
		Evidence: &enclave.Evidence{Platform: "test", Measurement: []byte{0xc0, 0xde}, Report: []byte(report)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNodeJoinTrustRetire(t *testing.T) {
	h := newHarness(t, newMembers(t, 1), "")
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	join := joinRequest(t, h, key, "ok")
	var req Request
	_ = json.Unmarshal(join.Request, &req)
	nodeID := req.Node.ID

	forged := *join
	forged.Signature = ed25519.Sign(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)), Digest(join.Request))
	if _, _, err := h.g.Check(forged.Encode()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("join signed by another key: %v", err)
	}
	if r := h.block(joinRequest(t, h, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)), "forged")); r[0].Applied || !strings.Contains(r[0].Reason, "bad report") {
		t.Fatalf("join with bad evidence: %+v", r[0])
	}
	if r := h.block(join); !r[0].Applied {
		t.Fatalf("join: %+v", r[0])
	}
	n, ok := h.g.Node(nodeID)
	if !ok || n.Status != NodePending || n.Measurement != "c0de" || n.ConsensusID != 0 {
		t.Fatalf("joined node %+v", n)
	}
	if r := h.block(joinRequest(t, h, key, "ok")); r[0].Applied || !strings.Contains(r[0].Reason, "already pending") {
		t.Fatalf("second join: %+v", r[0])
	}

	// Revoked code cannot be trusted.
	allow := h.propose(0, action(ActionAllowMeasurement, MeasurementArgs{Measurement: "0bad"}))
	h.vote(0, allow.Proposal, Accept)
	if r := h.propose(0, action(ActionTrustNode, NodeArgs{Node: nodeID})); r.Applied || !strings.Contains(r.Reason, "not an allowed measurement") {
		t.Fatalf("trust with code not allowed: %+v", r)
	}
	allow = h.propose(0, action(ActionAllowMeasurement, MeasurementArgs{Measurement: "c0de"}))
	h.vote(0, allow.Proposal, Accept)

	trust := h.propose(0, action(ActionTrustNode, NodeArgs{Node: nodeID}))
	if r := h.vote(0, trust.Proposal, Accept); r.State != StateAccepted {
		t.Fatalf("trust: %+v", r)
	}
	set := h.g.TrustedNodes()
	if len(set) != 2 || set[1].ID != nodeID || set[1].ConsensusID != 2 {
		t.Fatalf("consensus set %+v", set)
	}
	retire := h.propose(0, action(ActionRetireNode, NodeArgs{Node: "n1"}))
	if r := h.vote(0, retire.Proposal, Accept); r.State != StateAccepted {
		t.Fatalf("retire: %+v", r)
	}
	if set := h.g.TrustedNodes(); len(set) != 1 || set[0].ID != nodeID {
		t.Fatalf("after retirement %+v", set)
	}
	if n, _ := h.g.Node("n1"); n.Status != NodeRetired || n.Retired != h.g.Height() {
		t.Fatalf("retired node %+v, want retired at block %d", n, h.g.Height())
	}
	// The retired node holds the current secret: retiring it rotates.
	if h.g.PendingRotation() != 2 {
		t.Fatalf("pending rotation after retirement %d, want 2", h.g.PendingRotation())
	}
	if r := h.propose(0, action(ActionRetireNode, NodeArgs{Node: nodeID})); r.Applied || !strings.Contains(r.Reason, "last trusted node") {
		t.Fatalf("retiring the last node: %+v", r)
	}
	if r := h.propose(0, action(ActionTrustNode, NodeArgs{Node: "n1"})); r.Applied || !strings.Contains(r.Reason, "retired, not pending") {
		t.Fatalf("trusting a retired node again: %+v", r)
	}
}

var (
	nodeKey    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32))
	nodeEnc, _ = ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{5}, 32))
)

func TestLedgerSecretRotation(t *testing.T) {
	h := newHarness(t, newMembers(t, 3), "")
	newSecret := bytes.Repeat([]byte{0x42}, 32)
	generation := func(gen uint64, members []*MemberKey) *SecretGeneration {
		var pubs []*MemberPublic
		for _, m := range members {
			pubs = append(pubs, &m.MemberPublic)
		}
		sg, err := NewGeneration(network, gen, newSecret, map[string][]byte{"n1": nodeEnc.PublicKey().Bytes()}, pubs, 1)
		if err != nil {
			t.Fatal(err)
		}
		return sg
	}
	publish := func(key ed25519.PrivateKey, sg *SecretGeneration) []*Result {
		s, err := SignLedgerSecret(key, "n1", network, sg)
		if err != nil {
			t.Fatal(err)
		}
		return h.block(s)
	}
	if r := publish(nodeKey, generation(2, h.members)); len(r) != 1 || r[0].Applied || !strings.Contains(r[0].Reason, "no ledger secret rotation is pending") {
		t.Fatalf("unrequested secret: %+v", r)
	}
	p := h.propose(0, action(ActionRotateLedgerSecret, nil))
	h.vote(0, p.Proposal, Accept)
	h.vote(1, p.Proposal, Accept)
	if h.g.PendingRotation() != 2 {
		t.Fatalf("pending rotation %d", h.g.PendingRotation())
	}
	// A second rotation joins the pending one: its secret is not issued yet.
	second := h.propose(0, action(ActionRotateLedgerSecret, nil))
	h.vote(0, second.Proposal, Accept)
	if r := h.vote(1, second.Proposal, Accept); r.State != StateAccepted || h.g.PendingRotation() != 2 {
		t.Fatalf("second rotation: %+v, pending %d", r, h.g.PendingRotation())
	}
	if r := publish(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), generation(2, h.members)); len(r) != 0 {
		t.Fatalf("secret signed by another key recorded: %+v", r)
	}
	if r := publish(nodeKey, generation(2, h.members[:2])); r[0].Applied || !strings.Contains(r[0].Reason, "no recovery share for member m2") {
		t.Fatalf("secret without every member's share: %+v", r[0])
	}
	if r := publish(nodeKey, generation(2, h.members)); !r[0].Applied {
		t.Fatalf("secret: %+v", r[0])
	}
	gens := h.g.SecretGenerations()
	if h.g.PendingRotation() != 0 || len(gens) != 1 || gens[0].Generation != 2 || gens[0].Issuer != "n1" {
		t.Fatalf("after rotation: pending %d, generations %+v", h.g.PendingRotation(), gens)
	}
	// The node opens its copy; any member's share (threshold 1) recovers it.
	ct := gens[0].Nodes["n1"]
	k, _ := hpke.DHKEM(ecdh.X25519()).NewPrivateKey(nodeEnc.Bytes())
	got, err := hpke.Open(k, hpke.HKDFSHA256(), hpke.AES256GCM(), NodeSecretInfo(network), ct)
	if err != nil || !bytes.Equal(got, newSecret) {
		t.Fatalf("node copy: %v", err)
	}
	dk, _ := hpke.DHKEM(ecdh.X25519()).NewPrivateKey(h.members[2].DecryptionKey().Bytes())
	share, err := shares.Open(gens[0].Shares[h.members[2].ID()], dk, shares.Info(network, 2))
	if err != nil {
		t.Fatal(err)
	}
	var c [32]byte
	copy(c[:], gens[0].Commitment)
	if secret, err := shares.CombineChecked([]shares.Share{share}, c, string(shares.Info(network, 2))); err != nil || !bytes.Equal(secret, newSecret) {
		t.Fatalf("recovered from a share: %v", err)
	}
}

// Retiring a node rotates the ledger secret, and the new generation must
// leave the retired node out: one issued for the old set is refused.
func TestRetiringANodeRotatesTheSecret(t *testing.T) {
	h := newHarness(t, newMembers(t, 1), "")
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	enc, _ := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{4}, 32))
	pub := key.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	id := hex.EncodeToString(sum[:])
	join, err := SignJoin(key, &Request{Network: network, Height: h.g.Height(), Node: &NodeJoin{
		ID: id, PublicKey: pub, EncryptionKey: enc.PublicKey().Bytes(),
		Evidence: &enclave.Evidence{Platform: "test", Measurement: []byte{0xc0, 0xde}, Report: []byte("ok")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := h.block(join); !r[0].Applied {
		t.Fatalf("join: %+v", r[0])
	}
	h.vote(0, h.propose(0, action(ActionTrustNode, NodeArgs{Node: id})).Proposal, Accept)
	h.vote(0, h.propose(0, action(ActionRetireNode, NodeArgs{Node: "n1"})).Proposal, Accept)
	if h.g.PendingRotation() != 2 {
		t.Fatalf("pending rotation after retiring n1: %d", h.g.PendingRotation())
	}
	publish := func(nodes map[string][]byte) *Result {
		sg, err := NewGeneration(network, 2, bytes.Repeat([]byte{0x42}, 32), nodes, []*MemberPublic{&h.members[0].MemberPublic}, 1)
		if err != nil {
			t.Fatal(err)
		}
		s, err := SignLedgerSecret(key, id, network, sg)
		if err != nil {
			t.Fatal(err)
		}
		return h.block(s)[0]
	}
	both := map[string][]byte{"n1": nodeEnc.PublicKey().Bytes(), id: enc.PublicKey().Bytes()}
	if r := publish(both); r.Applied || !strings.Contains(r.Reason, "encrypted to 2 nodes, 1 are trusted") {
		t.Fatalf("secret encrypted to the retired node too: %+v", r)
	}
	if r := publish(map[string][]byte{id: enc.PublicKey().Bytes()}); !r.Applied {
		t.Fatalf("secret for the remaining node: %+v", r)
	}
	if gens := h.g.SecretGenerations(); h.g.PendingRotation() != 0 || len(gens) != 1 || gens[0].Nodes["n1"] != nil {
		t.Fatalf("after rotation: pending %d, generations %+v", h.g.PendingRotation(), gens)
	}
}

func TestRecoveryVotesCountOnlyInARecoveryBlock(t *testing.T) {
	h := newHarness(t, newMembers(t, 3), "")
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	pub := key.Public().(ed25519.PublicKey)
	id := sha256.Sum256(pub)
	node := &NodeJoin{ID: hex.EncodeToString(id[:]), PublicKey: pub, EncryptionKey: []byte("x25519"),
		Evidence: &enclave.Evidence{Platform: "test", Measurement: []byte{1}, Report: []byte("ok")}}
	vote := func(i int) *Signed { return h.sign(i, &Request{Kind: KindRecoverNetwork, Node: node}) }
	tx := func(s *Signed) types.Tx { return types.Tx{Namespace: types.GovNamespace, Payload: s.Encode()} }

	// In an ordinary block (and at a node's door) a vote is refused:
	// otherwise a few members could take a live network.
	if _, _, err := h.g.Check(vote(0).Encode()); err == nil || !strings.Contains(err.Error(), "only in the recovery block") {
		t.Fatalf("recovery vote at the door: %v", err)
	}
	if r := h.block(vote(0)); r[0].Applied {
		t.Fatalf("recovery vote in an ordinary block applied: %+v", r[0])
	}
	if _, err := h.g.RecoverySigner([]types.Tx{tx(vote(2))}); err != nil {
		t.Fatalf("one vote with threshold 1: %v", err)
	}
	if _, err := h.g.RecoverySigner([]types.Tx{{Namespace: types.GovNamespace, Payload: []byte("junk")}}); err == nil {
		t.Fatal("a block without votes passed as a recovery block")
	}
	signer, err := h.g.RecoverySigner([]types.Tx{tx(vote(1))})
	if err != nil || signer.ID != node.ID || signer.ConsensusID != 2 {
		t.Fatalf("recovery signer %+v %v", signer, err)
	}
	if _, err := h.g.Execute(h.g.Height()+1, []types.Tx{tx(vote(1))}, true); err != nil {
		t.Fatal(err)
	}
	set := h.g.TrustedNodes()
	if len(set) != 1 || set[0].ID != node.ID || set[0].ConsensusID != 2 || h.g.Params().Open {
		t.Fatalf("after the recovery block: set %+v, open %v", set, h.g.Params().Open)
	}
	if n, _ := h.g.Node("n1"); n.Status != NodeRetired || n.Retired != h.g.Height() {
		t.Fatalf("the lost node is %s (retired at %d)", n.Status, n.Retired)
	}
}

func TestParamsAtFollowTheBlocks(t *testing.T) {
	h := newHarness(t, newMembers(t, 1), "")
	p := h.propose(0, action(ActionSetParams, map[string]any{"block_gas_limit": 5_000_000, "batch_max_txs": 100}))
	r := h.vote(0, p.Proposal, Accept)
	before, at := h.g.ParamsAt(r.Block-1), h.g.ParamsAt(r.Block)
	if before.BlockGasLimit != 0 || at.BlockGasLimit != 5_000_000 || at.BatchMaxTxs != 100 || h.g.ParamsAt(r.Block+50).BlockGasLimit != 5_000_000 {
		t.Fatalf("params at %d: %+v, at %d: %+v", r.Block-1, before, r.Block, at)
	}
	if r := h.propose(0, action(ActionSetParams, map[string]any{"block_gas_limit": 100})); r.Applied || !strings.Contains(r.Reason, "at least 21000") {
		t.Fatalf("tiny gas limit: %+v", r)
	}
	h.db.Close()
	again := newHarness(t, h.members, h.dir)
	if again.g.ParamsAt(r.Block-1).BlockGasLimit != 0 || again.g.ParamsAt(r.Block).BlockGasLimit != 5_000_000 {
		t.Fatal("parameter history lost on reopen")
	}
}
