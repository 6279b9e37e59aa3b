package node

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cocoledger/coco/core/constitution"
	"github.com/cocoledger/coco/core/durable"
	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave"
)

// Trust models (DESIGN.md): in bft every replica re-verifies client
// signatures of batches from other nodes; in tee it trusts the attested
// ingress enclave that checked them.
const (
	TrustBFT = "bft"
	TrustTEE = "tee"
)

// ErrGenesis marks an invalid or mismatched genesis document.
var ErrGenesis = errors.New("invalid genesis")

// Genesis is the document every node of a network starts from. Its hash is
// bound into block 0, so a node can never join the wrong network.
type Genesis struct {
	Network    string `json:"network"`
	TimeMs     uint64 `json:"time_ms"`
	TrustModel string `json:"trust_model"`
	// Measurements are the code measurements allowed to run a node.
	Measurements []HexBytes    `json:"allowed_measurements"`
	Nodes        []GenesisNode `json:"nodes"`
	// Governance names the founding members, the constitution and the
	// network parameters.
	Governance gov.Genesis `json:"governance"`
	// Apps holds each application's genesis configuration by namespace.
	Apps map[string]json.RawMessage `json:"apps"`
}

// GenesisNode is a member of the initial consensus set.
type GenesisNode struct {
	ID uint64 `json:"id"` // consensus id, from 1
	Info
	// LedgerSecret is the network's ledger secret, HPKE-encrypted to this
	// node's encryption key.
	LedgerSecret HexBytes `json:"ledger_secret"`
}

// NewGenesis builds a genesis document for the given nodes after verifying
// their evidence. It creates the ledger secret, encrypts it to each node and
// forgets it: the party running the ceremony holds it only in memory, for
// the duration of this call.
func NewGenesis(network string, infos []*Info, v enclave.Verifier, measurements [][]byte, trust string, governance gov.Genesis, apps map[string]json.RawMessage) (*Genesis, error) {
	if governance.Params == (gov.Params{}) {
		governance.Params = gov.DefaultParams(trust, len(infos))
	}
	g := &Genesis{Network: network, TimeMs: uint64(time.Now().UnixMilli()), TrustModel: trust, Governance: governance, Apps: apps}
	for _, m := range measurements {
		g.Measurements = append(g.Measurements, m)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	defer clear(secret)
	// The members' recovery shares of the first generation, so that the
	// ledger survives the loss of every node.
	var members []*gov.MemberPublic
	for _, m := range governance.Members {
		pub, err := gov.ParseMemberPublic([]byte(m))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrGenesis, err)
		}
		members = append(members, pub)
	}
	threshold := constitution.Default().RecoveryThreshold
	if governance.Constitution != nil {
		threshold = governance.Constitution.RecoveryThreshold
	}
	if len(members) > 0 {
		sg, err := gov.NewGeneration(network, 1, secret, nil, members, threshold)
		if err != nil {
			return nil, fmt.Errorf("%w: recovery shares: %w", ErrGenesis, err)
		}
		g.Governance.Secret = sg
	}
	for i, info := range infos {
		if err := info.Verify(v, measurements); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrGenesis, err)
		}
		pk, err := hpkeKEM.NewPublicKey(info.EncryptionKey)
		if err != nil {
			return nil, fmt.Errorf("%w: node %s encryption key: %v", ErrGenesis, info.NodeID, err)
		}
		sealed, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), ledgerSecretInfo(network), secret)
		if err != nil {
			return nil, err
		}
		g.Nodes = append(g.Nodes, GenesisNode{ID: uint64(i + 1), Info: *info, LedgerSecret: sealed})
	}
	return g, g.Validate(v)
}

func ledgerSecretInfo(network string) []byte { return []byte("coco/ledger-secret/v1:" + network) }

// Validate checks the document's shape and every node's evidence.
func (g *Genesis) Validate(v enclave.Verifier) error {
	switch {
	case g.Network == "":
		return fmt.Errorf("%w: no network name", ErrGenesis)
	case g.TrustModel != TrustBFT && g.TrustModel != TrustTEE:
		return fmt.Errorf("%w: trust model %q (want %s or %s)", ErrGenesis, g.TrustModel, TrustBFT, TrustTEE)
	case len(g.Nodes) == 0:
		return fmt.Errorf("%w: no nodes", ErrGenesis)
	case g.Governance.Params.TrustModel != g.TrustModel:
		return fmt.Errorf("%w: governance parameters say trust model %q, the network %q", ErrGenesis, g.Governance.Params.TrustModel, g.TrustModel)
	}
	if err := g.Governance.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrGenesis, err)
	}
	// No listed measurement allows any code: development networks only,
	// where every rebuild changes the measurement.
	var allowed [][]byte
	for _, m := range g.Measurements {
		allowed = append(allowed, m)
	}
	seen := map[string]bool{}
	for i, n := range g.Nodes {
		if n.ID != uint64(i+1) {
			return fmt.Errorf("%w: node %d has id %d; ids run 1..n in order", ErrGenesis, i, n.ID)
		}
		if seen[n.NodeID] {
			return fmt.Errorf("%w: node %s listed twice", ErrGenesis, n.NodeID)
		}
		seen[n.NodeID] = true
		if err := n.Verify(v, allowed); err != nil {
			return fmt.Errorf("%w: %w", ErrGenesis, err)
		}
	}
	return nil
}

// Encode is the canonical encoding whose hash block 0 carries.
func (g *Genesis) Encode() []byte {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// Hash identifies the network.
func (g *Genesis) Hash() types.Hash { return types.Sum(g.Encode()) }

// Block is block 0: the genesis time and, in place of batches, the hash of
// this document.
func (g *Genesis) Block(emptyRoot types.Hash) *types.Block {
	return &types.Block{Header: types.Header{Number: 0, TimeMs: g.TimeMs, BatchesHash: g.Hash(), HistoryRoot: emptyRoot}}
}

// Self finds the node with the given public key.
func (g *Genesis) Self(pub []byte) (*GenesisNode, error) {
	for i := range g.Nodes {
		if bytes.Equal(g.Nodes[i].PublicKey, pub) {
			return &g.Nodes[i], nil
		}
	}
	return nil, fmt.Errorf("%w: this node (%x) is not in genesis network %q", ErrGenesis, pub, g.Network)
}

// OpenLedgerSecret decrypts the ledger secret sealed to this node.
func (n *GenesisNode) OpenLedgerSecret(id *Identity, network string) ([]byte, error) {
	secret, err := hpke.Open(id.EncryptionKey(), hpke.HKDFSHA256(), hpke.AES256GCM(), ledgerSecretInfo(network), n.LedgerSecret)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot open this node's ledger secret: %v", ErrGenesis, err)
	}
	return secret, nil
}

// DevGenesis returns the single-node development network of dataDir,
// creating the node identity and genesis document on first use. Any code
// measurement is allowed, since every rebuild changes it.
func DevGenesis(dataDir string, enc enclave.Enclave, apps map[string]json.RawMessage) (*Genesis, error) {
	path := filepath.Join(dataDir, "genesis.json")
	if g, err := LoadGenesis(path); err == nil {
		return g, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	id, err := LoadIdentity(dataDir, enc)
	if errors.Is(err, ErrNoIdentity) {
		id, err = InitIdentity(dataDir, enc)
	}
	if err != nil {
		return nil, err
	}
	info, err := id.Info(enc)
	if err != nil {
		return nil, err
	}
	member, err := devMember(dataDir)
	if err != nil {
		return nil, err
	}
	g, err := NewGenesis("dev", []*Info{info}, enc, nil, TrustTEE, gov.Genesis{Members: []string{string(member.PEM())}}, apps)
	if err != nil {
		return nil, err
	}
	return g, SaveGenesis(path, g)
}

// DevMemberFiles are the dev network's one member's public and private
// files, in the data directory.
const (
	DevMemberPublic  = "member.pem"
	DevMemberPrivate = "member.key"
)

// devMember creates the dev network's member. Its key is a development
// convenience like the funded dev accounts: kept in the clear, 0600.
func devMember(dataDir string) (*gov.MemberKey, error) {
	k, err := gov.NewMemberKey("dev-member")
	if err != nil {
		return nil, err
	}
	priv, err := k.PrivatePEM()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dataDir, DevMemberPrivate), priv, 0o600); err != nil {
		return nil, err
	}
	return k, os.WriteFile(filepath.Join(dataDir, DevMemberPublic), k.PEM(), 0o644)
}

// govGenesis completes the governance section with the genesis nodes, all
// trusted, and the allowed measurements.
func govGenesis(g *Genesis) *gov.Genesis {
	gg := g.Governance
	gg.Nodes = nil
	for _, n := range g.Nodes {
		row := gov.Node{ID: n.NodeID, ConsensusID: n.ID, Status: gov.NodeTrusted, PublicKey: n.PublicKey, EncryptionKey: n.EncryptionKey}
		if n.Evidence != nil {
			row.Measurement = hex.EncodeToString(n.Evidence.Measurement)
		}
		gg.Nodes = append(gg.Nodes, row)
	}
	gg.Measurements = nil
	for _, m := range g.Measurements {
		gg.Measurements = append(gg.Measurements, hex.EncodeToString(m))
	}
	return &gg
}

// nodeVerifier checks a joining node's evidence as genesis checks the
// founding nodes'.
func nodeVerifier(v enclave.Verifier) gov.NodeVerifier {
	return func(j *gov.NodeJoin, allowed []string) (string, error) {
		var ms [][]byte
		for _, m := range allowed {
			b, err := hex.DecodeString(m)
			if err != nil {
				return "", err
			}
			ms = append(ms, b)
		}
		info := &Info{NodeID: j.ID, PublicKey: j.PublicKey, EncryptionKey: j.EncryptionKey, Evidence: j.Evidence}
		if err := info.Verify(v, ms); err != nil {
			return "", err
		}
		return hex.EncodeToString(j.Evidence.Measurement), nil
	}
}

// SaveGenesis writes the document to path.
func SaveGenesis(path string, g *Genesis) error { return durable.WriteFile(path, g.Encode()) }

// LoadGenesis reads a genesis document written by SaveGenesis.
func LoadGenesis(path string) (*Genesis, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	var g Genesis
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrGenesis, path, err)
	}
	if !bytes.Equal(g.Encode(), data) {
		// The hash is over the canonical encoding; a file edited by hand
		// would silently name another network.
		return nil, fmt.Errorf("%w: %s is not in canonical form (was it edited?)", ErrGenesis, path)
	}
	return &g, nil
}

// Peers lists the consensus set's ids.
func (g *Genesis) Peers() []uint64 {
	ids := make([]uint64, len(g.Nodes))
	for i, n := range g.Nodes {
		ids[i] = n.ID
	}
	slices.Sort(ids)
	return ids
}
