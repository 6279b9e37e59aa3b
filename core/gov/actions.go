package gov

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"

	"github.com/cocoledger/coco/core/constitution"
)

// Action names.
const (
	ActionAddMember          = "add_member"
	ActionRemoveMember       = "remove_member"
	ActionTrustNode          = "trust_node"
	ActionRetireNode         = "retire_node"
	ActionAllowMeasurement   = "allow_measurement"
	ActionRevokeMeasurement  = "revoke_measurement"
	ActionRotateLedgerSecret = "rotate_ledger_secret"
	ActionSetConstitution    = "set_constitution"
	ActionSetParams          = "set_params"
	ActionSetUser            = "set_user"
	ActionRemoveUser         = "remove_user"
	ActionOpenNetwork        = "open_network"
)

// Arguments of the actions that take any.
type (
	AddMemberArgs struct {
		Member string         `json:"member"` // the member's public file (PEM)
		Data   map[string]any `json:"data,omitempty"`
	}
	MemberArgs struct {
		Member string `json:"member_id"`
	}
	NodeArgs struct {
		Node string `json:"node_id"`
	}
	MeasurementArgs struct {
		Measurement string `json:"measurement"` // hex
	}
	UserArgs struct {
		User  string   `json:"user_id"`
		Roles []string `json:"roles,omitempty"`
	}
)

// decodeArgs parses an action's arguments strictly: a misspelt field is an
// error, not a silent default.
func decodeArgs(a Action, v any) error {
	if len(a.Args) == 0 {
		return fmt.Errorf("missing arguments")
	}
	d := json.NewDecoder(bytes.NewReader(a.Args))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("arguments: %v", err)
	}
	return nil
}

// prepare checks an action's arguments against t (the rules the
// constitution cannot lift) and returns what applying it to t does. It
// changes nothing itself, so a proposal can be checked without applying.
func prepare(t *tables, a Action) (apply func(number uint64), err error) {
	switch a.Name {
	case ActionAddMember:
		var args AddMemberArgs
		if err := decodeArgs(a, &args); err != nil {
			return nil, err
		}
		pub, err := ParseMemberPublic([]byte(args.Member))
		if err != nil {
			return nil, err
		}
		if m := t.members[pub.ID()]; m != nil && m.Status == MemberActive {
			return nil, fmt.Errorf("%s (%s) is already an active member", pub.Name(), short(pub.ID()))
		}
		return func(number uint64) {
			t.members[pub.ID()] = memberRow(pub, args.Data)
			t.dirty[keyMember+pub.ID()] = true
		}, nil
	case ActionRemoveMember:
		var args MemberArgs
		if err := decodeArgs(a, &args); err != nil {
			return nil, err
		}
		m := t.members[args.Member]
		if m == nil || m.Status != MemberActive {
			return nil, fmt.Errorf("%s is not an active member", short(args.Member))
		}
		if len(t.activeMembers()) == 1 {
			return nil, fmt.Errorf("cannot remove the last active member")
		}
		return func(number uint64) {
			m.Status = MemberRemoved
			t.dirty[keyMember+m.ID] = true
			t.rotate() // its recovery share opens nothing sealed later
		}, nil
	case ActionAllowMeasurement, ActionRevokeMeasurement:
		var args MeasurementArgs
		if err := decodeArgs(a, &args); err != nil {
			return nil, err
		}
		if b, err := hex.DecodeString(args.Measurement); err != nil || len(b) == 0 {
			return nil, fmt.Errorf("measurement %q is not hex", args.Measurement)
		}
		if a.Name == ActionRevokeMeasurement && !t.measurements[args.Measurement] {
			return nil, fmt.Errorf("measurement %s is not allowed, nothing to revoke", args.Measurement)
		}
		return func(number uint64) {
			if a.Name == ActionAllowMeasurement {
				t.measurements[args.Measurement] = true
			} else {
				delete(t.measurements, args.Measurement)
			}
			t.dirty[keyMeasurement+args.Measurement] = true
		}, nil
	case ActionSetConstitution:
		if _, err := compileConstitution(a.Args); err != nil {
			return nil, err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, a.Args); err != nil {
			return nil, err
		}
		return func(number uint64) {
			t.constitution = compact.Bytes()
			t.dirty[keyConstitution] = true
		}, nil
	case ActionSetParams:
		p, err := mergeParams(t.params, a.Args)
		if err != nil {
			return nil, err
		}
		return func(number uint64) {
			t.params = p
			t.dirty[keyParams] = true
		}, nil
	case ActionSetUser, ActionRemoveUser:
		var args UserArgs
		if err := decodeArgs(a, &args); err != nil {
			return nil, err
		}
		if args.User == "" {
			return nil, fmt.Errorf("user_id is empty")
		}
		if a.Name == ActionRemoveUser && t.users[args.User] == nil {
			return nil, fmt.Errorf("no user %s", args.User)
		}
		return func(number uint64) {
			if a.Name == ActionSetUser {
				t.users[args.User] = &User{ID: args.User, Roles: args.Roles}
			} else {
				delete(t.users, args.User)
			}
			t.dirty[keyUser+args.User] = true
		}, nil
	case ActionOpenNetwork:
		if t.params.Open {
			return nil, fmt.Errorf("the network is already open")
		}
		return func(number uint64) {
			t.params.Open = true
			t.dirty[keyParams] = true
		}, nil
	case ActionTrustNode, ActionRetireNode:
		var args NodeArgs
		if err := decodeArgs(a, &args); err != nil {
			return nil, err
		}
		n := t.nodes[args.Node]
		switch {
		case n == nil:
			return nil, fmt.Errorf("no node %s (a node asks to join with coco node join)", short(args.Node))
		case a.Name == ActionTrustNode && n.Status != NodePending:
			return nil, fmt.Errorf("node %s is %s, not pending", short(n.ID), n.Status)
		case a.Name == ActionTrustNode && len(t.measurements) > 0 && !t.measurements[n.Measurement]:
			return nil, fmt.Errorf("node %s runs code %s, which is not an allowed measurement", short(n.ID), short(n.Measurement))
		case a.Name == ActionRetireNode && n.Status != NodeTrusted:
			return nil, fmt.Errorf("node %s is %s, not trusted", short(n.ID), n.Status)
		case a.Name == ActionRetireNode && t.trustedNodes() == 1:
			return nil, fmt.Errorf("cannot retire the last trusted node")
		}
		return func(number uint64) {
			if a.Name == ActionTrustNode {
				n.Status, n.ConsensusID = NodeTrusted, t.nextConsensusID()
			} else {
				n.Status, n.Retired = NodeRetired, number
				t.rotate() // its copy of the secret opens nothing sealed later
			}
			t.dirty[keyNode+n.ID] = true
		}, nil
	case ActionRotateLedgerSecret:
		return func(number uint64) { t.rotate() }, nil
	}
	return nil, fmt.Errorf("unknown action %q", a.Name)
}

// mergeParams applies a set_params argument object: only the keys named
// change. Open is changed by open_network only.
func mergeParams(p Params, args json.RawMessage) (Params, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(args, &fields); err != nil || len(fields) == 0 {
		return p, fmt.Errorf("set_params wants an object of parameters")
	}
	for k, v := range fields {
		var err error
		switch k {
		case "trust_model":
			err = json.Unmarshal(v, &p.TrustModel)
			if err == nil && p.TrustModel != "bft" && p.TrustModel != "tee" {
				err = fmt.Errorf("trust_model %q, want bft or tee", p.TrustModel)
			}
		case "min_nodes":
			err = json.Unmarshal(v, &p.MinNodes)
			if err == nil && p.MinNodes < 1 {
				err = fmt.Errorf("min_nodes %d, want at least 1", p.MinNodes)
			}
		case "request_max_age":
			err = json.Unmarshal(v, &p.RequestMaxAge)
		case "block_gas_limit":
			err = json.Unmarshal(v, &p.BlockGasLimit)
			if err == nil && p.BlockGasLimit != 0 && p.BlockGasLimit < 21_000 {
				err = fmt.Errorf("block_gas_limit %d, want 0 (genesis value) or at least 21000", p.BlockGasLimit)
			}
		case "batch_max_txs":
			err = json.Unmarshal(v, &p.BatchMaxTxs)
			if err == nil && (p.BatchMaxTxs < 0 || p.BatchMaxTxs > 1_000_000) {
				err = fmt.Errorf("batch_max_txs %d, want 0 (node default) to 1000000", p.BatchMaxTxs)
			}
		case "batch_max_bytes":
			err = json.Unmarshal(v, &p.BatchMaxBytes)
			if err == nil && p.BatchMaxBytes != 0 && p.BatchMaxBytes < 64<<10 {
				err = fmt.Errorf("batch_max_bytes %d, want 0 (node default) or at least 64 KiB", p.BatchMaxBytes)
			}
		default:
			err = fmt.Errorf("unknown parameter %q (known: batch_max_bytes, batch_max_txs, block_gas_limit, min_nodes, request_max_age, trust_model)", k)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func memberRow(pub *MemberPublic, data map[string]any) *Member {
	return &Member{
		ID: pub.ID(), Name: pub.Name(), Status: MemberActive, Data: data,
		Cert:          string(pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: pub.Cert.Raw})),
		EncryptionKey: pub.EncryptionKey.Bytes(),
	}
}

// memberPEM rebuilds a member's public file from its row.
func memberPEM(m *Member) []byte {
	return append([]byte(m.Cert), pem.EncodeToMemory(&pem.Block{Type: pemEncryptionKey, Bytes: m.EncryptionKey})...)
}

// input is what the constitution sees of a proposal and the tables.
func (g *Gov) input(p *Proposal) constitution.Input {
	in := constitution.Input{
		Proposal: constitution.Proposal{ID: p.ID, Proposer: p.Proposer},
		Ballots:  maps.Clone(p.Ballots),
	}
	for _, a := range p.Actions {
		in.Proposal.Actions = append(in.Proposal.Actions, constitutionAction(a))
	}
	for _, id := range slices.Sorted(maps.Keys(g.t.members)) {
		m := g.t.members[id]
		in.Members = append(in.Members, constitution.Member{ID: m.ID, Status: m.Status, Data: m.Data})
	}
	for _, id := range slices.Sorted(maps.Keys(g.t.nodes)) {
		n := g.t.nodes[id]
		in.Nodes = append(in.Nodes, constitution.Node{ID: n.ID, Status: n.Status, Measurement: n.Measurement})
	}
	var params map[string]any
	b, _ := json.Marshal(g.t.params)
	_ = json.Unmarshal(b, &params)
	params["recovery_threshold"] = g.constitution.Source().RecoveryThreshold
	in.Params = params
	return in
}

func constitutionAction(a Action) constitution.Action {
	var args map[string]any
	_ = json.Unmarshal(a.Args, &args) // validated before; nil args are fine
	return constitution.Action{Name: a.Name, Args: args}
}
