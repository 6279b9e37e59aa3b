package gov

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/cocoledger/coco/core/constitution"
	"github.com/cocoledger/coco/core/state"
	"github.com/cocoledger/coco/core/types"
)

var (
	// ErrRefused marks a request that was ordered but refused; nothing it
	// asked for was applied. The wrapped reason is shown to the member.
	ErrRefused = errors.New("refused")
	// ErrNotFound marks an unknown proposal, member or result.
	ErrNotFound = errors.New("not found")
	// ErrReplayed marks a request that was already ordered once.
	ErrReplayed = errors.New("request already ordered")
)

// Result is what became of one signed request, stored under its id.
type Result struct {
	ID       string `json:"id"` // the request's id
	Kind     string `json:"kind"`
	Member   string `json:"member"`
	Block    uint64 `json:"block"`
	Applied  bool   `json:"applied"`
	Reason   string `json:"reason,omitempty"` // why it was refused
	Proposal string `json:"proposal,omitempty"`
	// State is the proposal's state after the request.
	State string `json:"state,omitempty"`
}

// NodeVerifier checks a joining node's evidence: that it binds the node's
// keys and comes from one of the allowed measurements (hex; none listed
// allows any). It returns the measurement. It must be deterministic: every
// replica runs it on the same request.
type NodeVerifier func(j *NodeJoin, allowed []string) (measurement string, err error)

// Gov is the governance state machine of one node. Execute applies ordered
// requests; the read methods serve the HTTP API and the node.
type Gov struct {
	store      *state.Store
	network    string
	log        *slog.Logger
	verifyNode NodeVerifier
	inRecovery bool // executing a recovery block (under mu)

	mu           sync.RWMutex
	t            *tables
	constitution *constitution.Constitution
	height       uint64
	root         types.Hash
	results      map[string]*Result // this block's, until written
	paramsAt     []paramsSince      // every change of the parameters, oldest first
	listeners    []func(*Result)
}

// Open loads the governance tables from store, or initialises them from
// genesis on first start.
func Open(store *state.Store, network string, g *Genesis, verify NodeVerifier, log *slog.Logger) (*Gov, error) {
	gv := &Gov{store: store, network: network, log: log, verifyNode: verify, t: newTables(), results: map[string]*Result{}}
	height, err := store.Get([]byte(keyHeight))
	switch {
	case errors.Is(err, state.ErrNotFound):
		if err := gv.initGenesis(g); err != nil {
			return nil, err
		}
		return gv, nil
	case err != nil:
		return nil, fmt.Errorf("gov: %w", err)
	}
	if len(height) != 8 {
		return nil, fmt.Errorf("gov: height has %d bytes: %w", len(height), state.ErrCorrupt)
	}
	gv.height = binary.BigEndian.Uint64(height)
	root, err := store.Get([]byte(keyRoot))
	if err != nil || len(root) != len(gv.root) {
		return nil, fmt.Errorf("gov: root: %v: %w", err, state.ErrCorrupt)
	}
	copy(gv.root[:], root)
	if err := gv.load(); err != nil {
		return nil, err
	}
	return gv, nil
}

func (g *Gov) load() error {
	it := g.store.NewIterator(nil, nil)
	defer it.Release()
	for it.Next() {
		key, val := string(it.Key()), it.Value()
		var err error
		switch {
		case key == keyConstitution:
			g.t.constitution = append(json.RawMessage(nil), val...)
		case key == keyParams:
			err = json.Unmarshal(val, &g.t.params)
		case strings.HasPrefix(key, keyParamsAt):
			var ps paramsSince
			if _, err = fmt.Sscan(key[len(keyParamsAt):], &ps.block); err == nil {
				err = json.Unmarshal(val, &ps.params)
			}
			g.paramsAt = append(g.paramsAt, ps)
		case strings.HasPrefix(key, keyMember):
			err = loadRow(g.t.members, key[len(keyMember):], val)
		case strings.HasPrefix(key, keyNode):
			err = loadRow(g.t.nodes, key[len(keyNode):], val)
		case strings.HasPrefix(key, keyMeasurement):
			g.t.measurements[key[len(keyMeasurement):]] = true
		case strings.HasPrefix(key, keyUser):
			err = loadRow(g.t.users, key[len(keyUser):], val)
		case strings.HasPrefix(key, keyProposal):
			err = loadRow(g.t.proposals, key[len(keyProposal):], val)
		case strings.HasPrefix(key, keySecret):
			var sg SecretGeneration
			if err = json.Unmarshal(val, &sg); err == nil {
				g.t.secrets[sg.Generation] = &sg
			}
		case key == keyRotation:
			err = json.Unmarshal(val, &g.t.rotation)
		}
		if err != nil {
			return fmt.Errorf("gov: load %s: %w", key, err)
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("gov: load: %w", err)
	}
	c, err := compileConstitution(g.t.constitution)
	if err != nil {
		return fmt.Errorf("gov: stored constitution: %w", err)
	}
	g.constitution = c
	return nil
}

func loadRow[T any](m map[string]*T, id string, val []byte) error {
	var row T
	if err := json.Unmarshal(val, &row); err != nil {
		return err
	}
	m[id] = &row
	return nil
}

func compileConstitution(src json.RawMessage) (*constitution.Constitution, error) {
	var s constitution.Source
	if err := json.Unmarshal(src, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", constitution.ErrInvalid, err)
	}
	return constitution.Compile(s)
}

// Height is the last block whose governance requests are applied.
func (g *Gov) Height() uint64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.height
}

// Root is a digest of every governance change up to Height: each block
// with changes folds its sorted changed rows into the previous root.
func (g *Gov) Root() types.Hash {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.root
}

// OnResult registers a function called with every request's result, after
// the block that ordered it is written. It must not block.
func (g *Gov) OnResult(f func(*Result)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.listeners = append(g.listeners, f)
}

// Execute applies a block's governance requests in order and writes the
// changed rows, the results, the height and the root in one batch.
//
// recovery says the block is a recovery block (types.Header.Recovery): the
// only one in which recovery votes count.
func (g *Gov) Execute(number uint64, txs []types.Tx, recovery bool) (types.Hash, error) {
	g.mu.Lock()
	if number != g.height+1 {
		g.mu.Unlock()
		return types.Hash{}, fmt.Errorf("gov: block %d after %d", number, g.height)
	}
	g.inRecovery = recovery
	for i := range txs {
		g.apply(number, txs[i].Payload)
	}
	g.inRecovery = false
	results := g.results
	g.results = map[string]*Result{}
	root, err := g.write(number, results)
	if err != nil {
		g.mu.Unlock()
		return types.Hash{}, err
	}
	g.height, g.root = number, root
	listeners := g.listeners
	g.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(results)) {
		r := results[id]
		if r.Applied {
			g.log.Info("governance request applied", "kind", r.Kind, "member", short(r.Member), "proposal", short(r.Proposal), "state", r.State, "block", number)
		} else {
			g.log.Warn("governance request refused", "kind", r.Kind, "member", short(r.Member), "proposal", short(r.Proposal), "reason", r.Reason, "block", number)
		}
		for _, f := range listeners {
			f(r)
		}
	}
	return root, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// write persists the block's changes and returns the new root.
func (g *Gov) write(number uint64, results map[string]*Result) (types.Hash, error) {
	b := g.store.NewBatch()
	defer b.Close()
	h := sha256.New()
	h.Write(g.root[:])
	h.Write(binary.BigEndian.AppendUint64(nil, number))
	changed := len(g.t.dirty) > 0
	for _, key := range slices.Sorted(maps.Keys(g.t.dirty)) {
		v := g.t.value(key)
		h.Write([]byte(key))
		h.Write([]byte{0})
		if v == nil {
			h.Write([]byte{0})
			if err := b.Delete([]byte(key)); err != nil {
				return types.Hash{}, err
			}
			continue
		}
		h.Write([]byte{1})
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(v))))
		h.Write(v)
		if err := b.Put([]byte(key), v); err != nil {
			return types.Hash{}, err
		}
	}
	if g.t.dirty[keyParams] {
		v, _ := json.Marshal(g.t.params)
		if err := b.Put([]byte(fmt.Sprintf("%s%020d", keyParamsAt, number)), v); err != nil {
			return types.Hash{}, err
		}
		g.paramsAt = append(g.paramsAt, paramsSince{number, g.t.params})
	}
	clear(g.t.dirty)
	for id, r := range results {
		v, _ := json.Marshal(r)
		if err := b.Put([]byte(keyResult+id), v); err != nil {
			return types.Hash{}, err
		}
	}
	root := g.root
	if changed {
		h.Sum(root[:0])
	}
	if err := b.Put([]byte(keyHeight), binary.BigEndian.AppendUint64(nil, number)); err != nil {
		return types.Hash{}, err
	}
	if err := b.Put([]byte(keyRoot), root[:]); err != nil {
		return types.Hash{}, err
	}
	// Not synced: the ledger is, and a lost write is replayed from it.
	if err := b.Commit(false); err != nil {
		return types.Hash{}, fmt.Errorf("gov: write block %d: %w", number, err)
	}
	return root, nil
}

// apply executes one request; a refusal is recorded as its result.
func (g *Gov) apply(number uint64, payload []byte) {
	signed, req, err := DecodeSigned(payload)
	if err != nil {
		// No id to record a result under that the sender could know
		// better than the transaction hash; the log has it.
		g.log.Warn("governance request refused", "block", number, "reason", err)
		return
	}
	id := signed.ID()
	if _, done := g.results[id]; done || g.hasResult(id) {
		g.log.Warn("replayed governance request ignored", "id", short(id), "block", number)
		return
	}
	// A request that is not its member's is not recorded under its id:
	// a forged copy must not burn the id of the genuine request.
	if err := g.authenticate(signed, req); err != nil {
		g.log.Warn("governance request refused", "id", short(id), "block", number, "reason", err)
		return
	}
	r := &Result{ID: id, Kind: req.Kind, Member: req.Member, Block: number}
	if req.Kind == KindJoin {
		r.Member = req.Node.ID
	}
	g.results[id] = r
	if req.Kind != KindPropose {
		r.Proposal = req.Proposal
	}
	err = g.checkAge(number, req)
	if err == nil {
		err = g.admissible(id, req)
	}
	if err != nil {
		r.Reason = strings.TrimPrefix(err.Error(), ErrRefused.Error()+": ")
		if p := g.t.proposals[r.Proposal]; p != nil {
			r.State = p.State
		}
		return
	}
	if p := g.perform(number, id, req); p != nil {
		r.Proposal, r.State = p.ID, p.State
	}
	r.Applied = true
}

// Check is the ingress check of a request before it is ordered: decoding,
// network, member, signature, age, and that it was not ordered before.
// Execution checks all of it again against the tables of its block.
func (g *Gov) Check(payload []byte) (*Signed, *Request, error) {
	signed, req, err := DecodeSigned(payload)
	if err != nil {
		return nil, nil, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.hasResult(signed.ID()) {
		return signed, req, fmt.Errorf("%w: %s", ErrReplayed, short(signed.ID()))
	}
	if err := g.authenticate(signed, req); err != nil {
		return signed, req, err
	}
	if err := g.checkAge(g.height+1, req); err != nil {
		return signed, req, err
	}
	return signed, req, g.admissible(signed.ID(), req)
}

func (g *Gov) hasResult(id string) bool {
	ok, err := g.store.Has([]byte(keyResult + id))
	return ok || err != nil // a read error must not let a replay through
}

// authenticate checks that a request is for this network and signed by
// an active member.
func (g *Gov) authenticate(s *Signed, r *Request) error {
	if r.Network != g.network {
		return fmt.Errorf("%w: request is for network %q, this is %q", ErrRefused, r.Network, g.network)
	}
	if r.Kind == KindLedgerSecret {
		n := g.t.nodes[r.Member]
		if n == nil || n.Status != NodeTrusted {
			return fmt.Errorf("%w: %s is not a trusted node", ErrRefused, short(r.Member))
		}
		if !ed25519.Verify(n.PublicKey, Digest(s.Request), s.Signature) {
			return fmt.Errorf("%w: %w: ledger secret not signed by node %s", ErrRefused, ErrBadSignature, short(r.Member))
		}
		return nil
	}
	if r.Kind == KindJoin {
		if !ed25519.Verify(r.Node.PublicKey, Digest(s.Request), s.Signature) {
			return fmt.Errorf("%w: %w: join request not signed by node %s", ErrRefused, ErrBadSignature, short(r.Node.ID))
		}
		return nil
	}
	m := g.t.members[r.Member]
	if m == nil || m.Status != MemberActive {
		return fmt.Errorf("%w: %s is not an active member", ErrRefused, short(r.Member))
	}
	pub, err := ParseMemberPublic(memberPEM(m))
	if err != nil {
		return fmt.Errorf("%w: member %s: %v", ErrRefused, short(m.ID), err)
	}
	if err := s.Verify(pub); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return nil
}

// checkAge refuses requests signed against a height the ledger has not
// reached, or too long ago.
func (g *Gov) checkAge(number uint64, r *Request) error {
	if r.Kind == KindJoin || r.Kind == KindLedgerSecret || r.Kind == KindRecoverNetwork {
		// Joining is idempotent (a node is pending once) and the joiner
		// cannot know the height before it has the ledger.
		return nil
	}
	if r.Height >= number {
		return fmt.Errorf("%w: request names height %d, the ledger is at %d", ErrRefused, r.Height, number-1)
	}
	if maxAge := g.t.params.RequestMaxAge; maxAge > 0 && number-r.Height > maxAge {
		return fmt.Errorf("%w: request made at height %d is older than %d blocks; sign it again", ErrRefused, r.Height, maxAge)
	}
	return nil
}

// checkNode verifies a joining node's evidence against the allowed
// measurements and returns its measurement; what names the node in the
// error.
func (g *Gov) checkNode(what string, n *NodeJoin) (string, error) {
	if g.verifyNode == nil {
		return "", fmt.Errorf("%w: this network cannot check node evidence", ErrRefused)
	}
	m, err := g.verifyNode(n, sortedKeys(g.t.measurements))
	if err != nil {
		return "", fmt.Errorf("%w: %s %s: %w", ErrRefused, what, short(n.ID), err)
	}
	return m, nil
}

// admissible checks, without changing anything, that a request can be
// applied to the current tables.
func (g *Gov) admissible(id string, r *Request) error {
	if r.Kind == KindRecoveryShare {
		return fmt.Errorf("%w: recovery shares go to a recovering node (coco gov recovery-share), not to the ledger", ErrRefused)
	}
	if r.Kind == KindRecoverNetwork {
		return g.admitRecovery(r)
	}
	if r.Kind == KindLedgerSecret {
		if err := g.t.checkSecret(r.Secret, g.constitution.Source().RecoveryThreshold); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return nil
	}
	if r.Kind == KindJoin {
		if n := g.t.nodes[r.Node.ID]; n != nil {
			if n.Status == NodeRetired {
				return fmt.Errorf("%w: node %s was retired; a retired identity cannot rejoin", ErrRefused, short(n.ID))
			}
			return fmt.Errorf("%w: node %s is already %s", ErrRefused, short(n.ID), n.Status)
		}
		_, err := g.checkNode("node", r.Node)
		return err
	}
	if r.Kind == KindPropose {
		if g.t.proposals[id] != nil {
			return fmt.Errorf("%w: proposal %s exists", ErrRefused, short(id))
		}
		in := g.input(&Proposal{ID: id, Proposer: r.Member, Actions: r.Actions})
		for i, a := range r.Actions {
			if _, err := prepare(g.t, a); err != nil {
				return fmt.Errorf("%w: action %d (%s): %w", ErrRefused, i, a.Name, err)
			}
			if err := g.constitution.Validate(in, constitutionAction(a)); err != nil {
				return fmt.Errorf("%w: action %d (%s): %w", ErrRefused, i, a.Name, err)
			}
		}
		return nil
	}
	p := g.t.proposals[r.Proposal]
	switch {
	case p == nil:
		return fmt.Errorf("%w: no proposal %s", ErrRefused, short(r.Proposal))
	case r.Kind == KindWithdraw && p.Proposer != r.Member:
		return fmt.Errorf("%w: only the proposer may withdraw proposal %s", ErrRefused, short(p.ID))
	case p.State != StateOpen:
		return fmt.Errorf("%w: proposal %s is %s, not open", ErrRefused, short(p.ID), p.State)
	}
	if prev, ok := p.Ballots[r.Member]; ok && r.Kind == KindVote {
		return fmt.Errorf("%w: member %s already voted %s on proposal %s", ErrRefused, short(r.Member), prev, short(p.ID))
	}
	return nil
}

// perform applies an admissible request and returns the proposal it made
// or changed.
func (g *Gov) perform(number uint64, id string, r *Request) *Proposal {
	var p *Proposal
	switch r.Kind {
	case KindRecoverNetwork:
		g.voteRecovery(number, r)
		return nil
	case KindLedgerSecret:
		sg := *r.Secret
		sg.Block, sg.Issuer = number, r.Member
		g.t.secrets[sg.Generation] = &sg
		g.t.rotation = 0
		g.t.dirty[fmt.Sprintf("%s%d", keySecret, sg.Generation)] = true
		g.t.dirty[keyRotation] = true
		return nil
	case KindJoin:
		m, _ := g.checkNode("node", r.Node) // admissible checked it
		j := r.Node
		g.t.nodes[j.ID] = &Node{ID: j.ID, Status: NodePending, Measurement: m, PublicKey: j.PublicKey, EncryptionKey: j.EncryptionKey, Joined: number}
		g.t.dirty[keyNode+j.ID] = true
		return nil
	case KindPropose:
		p = &Proposal{ID: id, Proposer: r.Member, Actions: r.Actions, State: StateOpen, Ballots: map[string]string{}, Proposed: number}
		g.t.proposals[id] = p
		g.resolve(number, p)
	case KindVote:
		p = g.t.proposals[r.Proposal]
		p.Ballots[r.Member] = r.Ballot
		g.resolve(number, p)
	case KindWithdraw:
		p = g.t.proposals[r.Proposal]
		p.State, p.Closed = StateWithdrawn, number
	}
	g.t.dirty[keyProposal+p.ID] = true
	return p
}

// resolve asks the constitution about an open proposal and, once it is
// accepted, applies its actions all or nothing in this same transaction.
func (g *Gov) resolve(number uint64, p *Proposal) {
	outcome, err := g.constitution.Resolve(g.input(p))
	if err != nil {
		// A constitution that cannot decide leaves the proposal open
		// rather than guessing.
		g.log.Error("constitution failed to resolve proposal", "proposal", short(p.ID), "err", err)
		return
	}
	switch outcome {
	case constitution.Rejected:
		p.State, p.Closed = StateRejected, number
	case constitution.Accepted:
		p.Closed = number
		next := g.t.clone()
		for i, a := range p.Actions {
			// Validated at proposal time, but earlier proposals may have
			// changed the tables since.
			apply, err := prepare(next, a)
			if err != nil {
				p.State, p.Reason = StateFailed, fmt.Sprintf("action %d (%s): %v", i, a.Name, err)
				return
			}
			apply(number)
		}
		p.State = StateAccepted
		g.t = next
		if c, err := compileConstitution(g.t.constitution); err == nil {
			g.constitution = c
		}
	}
}

type paramsSince struct {
	block  uint64
	params Params
}

// ParamsAt are the parameters in force for block n: those after the last
// change at or before n. Replaying an old block therefore sees the
// parameters it was executed with, whatever governance changed since.
func (g *Gov) ParamsAt(n uint64) Params {
	g.mu.RLock()
	defer g.mu.RUnlock()
	i := sort.Search(len(g.paramsAt), func(i int) bool { return g.paramsAt[i].block > n })
	if i == 0 {
		return g.t.params // no history (a ledger from before it was kept)
	}
	return g.paramsAt[i-1].params
}
