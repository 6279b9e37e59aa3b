package gov

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Member statuses.
const (
	MemberActive  = "active"
	MemberRemoved = "removed"
)

// Node statuses.
const (
	NodePending = "pending"
	NodeTrusted = "trusted"
	NodeRetired = "retired"
)

// Proposal states.
const (
	StateOpen      = "open"
	StateAccepted  = "accepted"
	StateRejected  = "rejected"
	StateWithdrawn = "withdrawn"
	StateFailed    = "failed" // accepted, but an action could not be applied
)

// Member is a row of the members table.
type Member struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	Cert          string         `json:"cert"`           // PEM certificate
	EncryptionKey []byte         `json:"encryption_key"` // X25519 public key
	Status        string         `json:"status"`
	Data          map[string]any `json:"data,omitempty"`
}

// Node is a row of the nodes table.
type Node struct {
	ID string `json:"id"` // node id: SHA-256 of its public key
	// ConsensusID is assigned when the node is trusted (genesis nodes:
	// 1..n) and never reused.
	ConsensusID   uint64 `json:"consensus_id,omitempty"`
	Status        string `json:"status"`
	Measurement   string `json:"measurement"`    // hex
	PublicKey     []byte `json:"public_key"`     // ed25519: consensus and bus messages
	EncryptionKey []byte `json:"encryption_key"` // X25519: the ledger secret is encrypted to it
	// Joined is the block that recorded a joining node as pending.
	Joined uint64 `json:"joined_at,omitempty"`
	// Retired is the block that retired the node: the last one it may
	// still fetch from the others (consensus.FormerMembers).
	Retired uint64 `json:"retired_at,omitempty"`
}

// User is a row of the users table: an application identity (an Ethereum
// address, a certificate hash) and the roles governance granted it.
type User struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
}

// Params are the network parameters governance sets.
type Params struct {
	// TrustModel is bft or tee (DESIGN.md).
	TrustModel string `json:"trust_model"`
	// MinNodes is the fewest trusted nodes the constitution lets a
	// retirement leave.
	MinNodes int `json:"min_nodes"`
	// RequestMaxAge is how many blocks after the height it names a signed
	// request stays valid.
	RequestMaxAge uint64 `json:"request_max_age"`
	// Open says whether the network accepts users' transactions; a
	// recovered network stays closed until the members vote it open.
	Open bool `json:"open"`
	// BatchMaxTxs and BatchMaxBytes cap every node's batches (0: each
	// node's configuration, which also bounds them).
	BatchMaxTxs   int `json:"batch_max_txs,omitempty"`
	BatchMaxBytes int `json:"batch_max_bytes,omitempty"`
	// BlockGasLimit caps the gas of each block of gas-metered applications
	// (the Ethereum adapter; 0: the application's genesis value). It
	// applies from the block that sets it, on every replica alike.
	BlockGasLimit uint64 `json:"block_gas_limit,omitempty"`
}

// Proposal is a row of the proposals table, ballots included.
type Proposal struct {
	ID       string            `json:"id"`
	Proposer string            `json:"proposer"`
	Actions  []Action          `json:"actions"`
	State    string            `json:"state"`
	Ballots  map[string]string `json:"ballots"`
	// Proposed and Closed are the blocks that recorded the proposal and
	// decided it.
	Proposed uint64 `json:"proposed_at"`
	Closed   uint64 `json:"closed_at,omitempty"`
	// Reason says why a proposal failed, or which constitution rule
	// rejected it.
	Reason string `json:"reason,omitempty"`
}

// tables are the governance tables held in memory (they are small: a
// consortium has tens of members and nodes) and written through to the
// store at the end of each block. dirty lists the keys changed since.
type tables struct {
	members      map[string]*Member
	nodes        map[string]*Node
	measurements map[string]bool
	users        map[string]*User
	constitution json.RawMessage
	params       Params
	proposals    map[string]*Proposal
	secrets      map[uint64]*SecretGeneration
	rotation     uint64 // generation an accepted rotation waits for
	recovery     recoveryVotes
	dirty        map[string]bool
}

// Store keys.
const (
	keyMember       = "member/"
	keyNode         = "node/"
	keyMeasurement  = "measurement/"
	keyUser         = "user/"
	keyProposal     = "proposal/"
	keyResult       = "result/"
	keySecret       = "secret/"
	keyRotation     = "rotation"
	keyConstitution = "constitution"
	keyParams       = "params"
	keyParamsAt     = "paramsat/" // block (decimal, 20 digits) → Params in force from it
	keyHeight       = "meta/height"
	keyRoot         = "meta/root"
)

func newTables() *tables {
	return &tables{
		members: map[string]*Member{}, nodes: map[string]*Node{}, measurements: map[string]bool{},
		users: map[string]*User{}, proposals: map[string]*Proposal{}, secrets: map[uint64]*SecretGeneration{}, recovery: recoveryVotes{}, dirty: map[string]bool{},
	}
}

// clone copies the tables an action may change, so that a proposal's
// actions apply all or nothing. Proposals are shared: actions never touch
// them.
func (t *tables) clone() *tables {
	c := &tables{
		members: make(map[string]*Member, len(t.members)), nodes: make(map[string]*Node, len(t.nodes)),
		measurements: maps.Clone(t.measurements), users: make(map[string]*User, len(t.users)),
		constitution: t.constitution, params: t.params, proposals: t.proposals, dirty: maps.Clone(t.dirty),
		secrets: t.secrets, rotation: t.rotation, recovery: t.recovery,
	}
	for k, v := range t.members {
		m := *v
		c.members[k] = &m
	}
	for k, v := range t.nodes {
		n := *v
		c.nodes[k] = &n
	}
	for k, v := range t.users {
		u := *v
		c.users[k] = &u
	}
	return c
}

// value is the stored encoding of key, nil when the row is gone.
func (t *tables) value(key string) []byte {
	var v any
	switch {
	case key == keyConstitution:
		return t.constitution
	case key == keyParams:
		v = t.params
	case key == keyRotation:
		v = t.rotation
	case hasPrefix(key, keySecret):
		var gen uint64
		if _, err := fmt.Sscan(key[len(keySecret):], &gen); err == nil && t.secrets[gen] != nil {
			v = t.secrets[gen]
		}
	case hasPrefix(key, keyMember):
		if m := t.members[key[len(keyMember):]]; m != nil {
			v = m
		}
	case hasPrefix(key, keyNode):
		if n := t.nodes[key[len(keyNode):]]; n != nil {
			v = n
		}
	case hasPrefix(key, keyMeasurement):
		if t.measurements[key[len(keyMeasurement):]] {
			return []byte("{}")
		}
	case hasPrefix(key, keyUser):
		if u := t.users[key[len(keyUser):]]; u != nil {
			v = u
		}
	case hasPrefix(key, keyProposal):
		if p := t.proposals[key[len(keyProposal):]]; p != nil {
			v = p
		}
	}
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	return b
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func (t *tables) activeMembers() []*Member {
	var out []*Member
	for _, id := range slices.Sorted(maps.Keys(t.members)) {
		if m := t.members[id]; m.Status == MemberActive {
			out = append(out, m)
		}
	}
	return out
}

// rotate leaves a ledger secret rotation pending, unless one already is: a
// trusted node then generates the secret and publishes it
// (KindLedgerSecret), encrypted to the nodes trusted and shared among the
// members active when it is ordered. Until then batches keep the current
// generation.
func (t *tables) rotate() {
	if t.rotation != 0 {
		return
	}
	t.rotation = max(t.currentGeneration(), 1) + 1
	t.dirty[keyRotation] = true
}

func (t *tables) currentGeneration() uint64 {
	var max uint64
	for gen := range t.secrets {
		max = maxU(max, gen)
	}
	return max
}

func (t *tables) nextConsensusID() uint64 {
	var max uint64
	for _, n := range t.nodes {
		max = maxU(max, n.ConsensusID)
	}
	return max + 1
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func (t *tables) trustedNodes() int {
	n := 0
	for _, node := range t.nodes {
		if node.Status == NodeTrusted {
			n++
		}
	}
	return n
}
