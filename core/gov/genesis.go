package gov

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cocoledger/coco/core/constitution"
)

// ErrGenesis marks an unusable governance genesis section.
var ErrGenesis = errors.New("invalid governance genesis")

// Genesis is the governance part of a genesis document: the founding
// members, the constitution and the network parameters. The initial nodes
// and measurements come from the document's own lists.
type Genesis struct {
	// Members are the founding members' public files (PEM).
	Members      []string             `json:"members"`
	Constitution *constitution.Source `json:"constitution,omitempty"` // Default when empty
	Params       Params               `json:"params"`
	// Secret is the first ledger secret generation's recovery shares
	// (made by the genesis ceremony; its encryptions to the nodes are in
	// the genesis node list).
	Secret *SecretGeneration `json:"secret,omitempty"`
	// Nodes and Measurements are filled by the node from the genesis
	// document, not written in the section.
	Nodes        []Node   `json:"-"`
	Measurements []string `json:"-"`
}

// DefaultParams are the parameters of a network whose genesis names none.
func DefaultParams(trustModel string, nodes int) Params {
	return Params{TrustModel: trustModel, MinNodes: nodes, RequestMaxAge: 100_000, Open: true}
}

// Validate checks the section before any node starts from it.
func (g *Genesis) Validate() error {
	if len(g.Members) == 0 {
		return fmt.Errorf("%w: no members: a network nobody governs cannot change", ErrGenesis)
	}
	seen := map[string]bool{}
	for i, m := range g.Members {
		pub, err := ParseMemberPublic([]byte(m))
		if err != nil {
			return fmt.Errorf("%w: member %d: %w", ErrGenesis, i, err)
		}
		if seen[pub.ID()] {
			return fmt.Errorf("%w: member %s listed twice", ErrGenesis, pub.Name())
		}
		seen[pub.ID()] = true
	}
	src := constitution.Default()
	if g.Constitution != nil {
		src = *g.Constitution
	}
	if _, err := constitution.Compile(src); err != nil {
		return fmt.Errorf("%w: constitution: %w", ErrGenesis, err)
	}
	if src.RecoveryThreshold > len(g.Members) {
		return fmt.Errorf("%w: recovery threshold %d with %d members", ErrGenesis, src.RecoveryThreshold, len(g.Members))
	}
	if g.Params.TrustModel != "bft" && g.Params.TrustModel != "tee" {
		return fmt.Errorf("%w: params: trust_model %q, want bft or tee", ErrGenesis, g.Params.TrustModel)
	}
	if g.Params.MinNodes < 1 {
		return fmt.Errorf("%w: params: min_nodes %d, want at least 1", ErrGenesis, g.Params.MinNodes)
	}
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// initGenesis fills empty tables from the genesis section; they are
// written with block 0's height so that block 1 applies on top.
func (g *Gov) initGenesis(gen *Genesis) error {
	if err := gen.Validate(); err != nil {
		return err
	}
	t := g.t
	for _, m := range gen.Members {
		pub, _ := ParseMemberPublic([]byte(m))
		t.members[pub.ID()] = memberRow(pub, nil)
		t.dirty[keyMember+pub.ID()] = true
	}
	for _, n := range gen.Nodes {
		t.nodes[n.ID] = &n
		t.dirty[keyNode+n.ID] = true
	}
	for _, m := range gen.Measurements {
		t.measurements[m] = true
		t.dirty[keyMeasurement+m] = true
	}
	src := constitution.Default()
	if gen.Constitution != nil {
		src = *gen.Constitution
	}
	t.constitution = mustJSON(src)
	t.dirty[keyConstitution] = true
	t.params = gen.Params
	t.dirty[keyParams] = true
	if gen.Secret != nil {
		sg := *gen.Secret
		sg.Generation, sg.Block = 1, 0
		t.secrets[1] = &sg
		t.dirty[keySecret+"1"] = true
	}
	c, err := constitution.Compile(src)
	if err != nil {
		return err
	}
	g.constitution = c
	root, err := g.write(0, nil)
	if err != nil {
		return err
	}
	g.root = root
	g.log.Info("governance initialised from genesis", "members", len(gen.Members), "nodes", len(gen.Nodes),
		"recovery_threshold", src.RecoveryThreshold, "trust_model", gen.Params.TrustModel)
	return nil
}

// Members lists the members table, by id.
func (g *Gov) Members() []Member {
	return rows(g, func(t *tables) map[string]*Member { return t.members })
}

// TrustedNodes lists the consensus set: the trusted nodes, by consensus id.
func (g *Gov) TrustedNodes() []Node {
	var out []Node
	for _, n := range g.Nodes() {
		if n.Status == NodeTrusted {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b Node) int { return int(a.ConsensusID) - int(b.ConsensusID) })
	return out
}

// MembershipVersion counts the changes of the consensus set since genesis:
// one per node trusted after genesis and one per node retired. It is the
// same on every replica after the same block.
func (g *Gov) MembershipVersion() uint64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var v uint64
	for _, n := range g.t.nodes {
		if n.Joined > 0 && n.Status != NodePending {
			v++ // trusted after genesis
		}
		if n.Status == NodeRetired {
			v++
		}
	}
	return v
}

// Node returns one row of the nodes table.
func (g *Gov) Node(id string) (Node, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.t.nodes[id]
	if n == nil {
		return Node{}, false
	}
	return *n, true
}

// Nodes lists the nodes table, by id.
func (g *Gov) Nodes() []Node { return rows(g, func(t *tables) map[string]*Node { return t.nodes }) }

// Users lists the users table, by id.
func (g *Gov) Users() []User { return rows(g, func(t *tables) map[string]*User { return t.users }) }

// Proposals lists every proposal, oldest first.
func (g *Gov) Proposals() []Proposal {
	ps := rows(g, func(t *tables) map[string]*Proposal { return t.proposals })
	slices.SortStableFunc(ps, func(a, b Proposal) int { return int(a.Proposed) - int(b.Proposed) })
	return ps
}

func rows[T any](g *Gov, table func(*tables) map[string]*T) []T {
	g.mu.RLock()
	defer g.mu.RUnlock()
	m := table(g.t)
	out := make([]T, 0, len(m))
	for _, id := range sortedKeys(m) {
		row := *m[id]
		out = append(out, row)
	}
	return out
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Proposal returns one proposal.
func (g *Gov) Proposal(id string) (Proposal, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	p := g.t.proposals[id]
	if p == nil {
		return Proposal{}, fmt.Errorf("proposal %s: %w", short(id), ErrNotFound)
	}
	cp := *p
	return cp, nil
}

// Measurements lists the allowed code measurements.
func (g *Gov) Measurements() []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return sortedKeys(g.t.measurements)
}

// Constitution is the current constitution.
func (g *Gov) Constitution() constitution.Source {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.constitution.Source()
}

// Params are the current network parameters.
func (g *Gov) Params() Params {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.t.params
}

// Result returns what became of a request, by its id.
func (g *Gov) Result(id string) (*Result, error) {
	v, err := g.store.Get([]byte(keyResult + id))
	if err != nil {
		return nil, fmt.Errorf("result %s: %w", short(id), ErrNotFound)
	}
	var r Result
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
