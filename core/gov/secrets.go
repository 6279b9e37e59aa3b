package gov

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/cocoledger/coco/core/shares"
)

var ecdhX25519 = ecdh.X25519()

// KindLedgerSecret is a trusted node publishing a new generation of the
// ledger secret after a rotation was accepted: the secret encrypted to
// every trusted node and split into recovery shares for the members.
// Signed by the node's key; Member names the node.
const KindLedgerSecret = "ledger_secret"

// KindRecoveryShare is a member handing its recovery share of one
// generation to a node that restores a lost network. It is never ordered:
// the recovering node checks it against the governance it replayed.
const KindRecoveryShare = "recovery_share"

// RecoveryShare is a member's share re-encrypted to the recovering node.
type RecoveryShare struct {
	Node       string `json:"node"` // the recovering node's id
	Generation uint64 `json:"generation"`
	Share      []byte `json:"share"` // shares.Seal to the node's key, info RecoveryShareInfo
}

// RecoveryShareInfo binds a re-encrypted share to its network, generation
// and recovering node.
func RecoveryShareInfo(network string, gen uint64, node string) []byte {
	return append(shares.Info(network, gen), []byte("|recovering:"+node)...)
}

// SecretGeneration is what governance records of one generation of the
// ledger secret: never the secret, only its encryptions to the trusted nodes
// and the members' recovery shares.
type SecretGeneration struct {
	Generation uint64 `json:"generation"`
	// Block is the block that recorded it; batches may use it after.
	Block  uint64 `json:"block"`
	Issuer string `json:"issuer,omitempty"` // node that generated it; empty for genesis
	// Nodes maps node id → the secret, HPKE-encrypted to that node.
	Nodes map[string][]byte `json:"nodes,omitempty"`
	// Shares maps member id → its Shamir share, HPKE-encrypted to the
	// member's encryption key (shares.Seal, info shares.Info).
	Shares     map[string][]byte `json:"shares"`
	Threshold  int               `json:"threshold"`
	Commitment []byte            `json:"commitment"` // shares.Commitment(secret, shares.Info)
}

// NodeSecretInfo is the HPKE info of a ledger secret encrypted to a node.
func NodeSecretInfo(network string) []byte { return []byte("coco/ledger-secret/v1:" + network) }

var hpkeSuite = struct {
	kdf  hpke.KDF
	aead hpke.AEAD
}{hpke.HKDFSHA256(), hpke.AES256GCM()}

// NewGeneration encrypts a fresh ledger secret to the given nodes (id →
// X25519 public key) and splits it into recovery shares for the members.
func NewGeneration(network string, gen uint64, secret []byte, nodes map[string][]byte, members []*MemberPublic, threshold int) (*SecretGeneration, error) {
	if threshold < 1 || threshold > len(members) {
		return nil, fmt.Errorf("recovery threshold %d with %d members", threshold, len(members))
	}
	info := shares.Info(network, gen)
	sg := &SecretGeneration{Generation: gen, Nodes: map[string][]byte{}, Shares: map[string][]byte{}, Threshold: threshold}
	c := shares.Commitment(secret, string(info))
	sg.Commitment = c[:]
	for _, id := range slices.Sorted(maps.Keys(nodes)) {
		pk, err := hpke.DHKEM(ecdhX25519).NewPublicKey(nodes[id])
		if err != nil {
			return nil, fmt.Errorf("node %s encryption key: %w", short(id), err)
		}
		ct, err := hpke.Seal(pk, hpkeSuite.kdf, hpkeSuite.aead, NodeSecretInfo(network), secret)
		if err != nil {
			return nil, err
		}
		sg.Nodes[id] = ct
	}
	parts, err := shares.Split(secret, len(members), threshold, rand.Reader)
	if err != nil {
		return nil, err
	}
	for i, m := range members {
		pk, err := shares.ParsePublicKey(m.EncryptionKey.Bytes())
		if err != nil {
			return nil, err
		}
		ct, err := shares.Seal(parts[i], pk, info)
		if err != nil {
			return nil, err
		}
		sg.Shares[m.ID()] = ct
	}
	return sg, nil
}

// SignLedgerSecret signs a node's ledger-secret request.
func SignLedgerSecret(key ed25519.PrivateKey, nodeID, network string, sg *SecretGeneration) (*Signed, error) {
	r := &Request{Kind: KindLedgerSecret, Network: network, Member: nodeID, Secret: sg}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return &Signed{Request: body, Signature: ed25519.Sign(key, Digest(body))}, nil
}

// checkSecret validates a new generation against the tables: the pending
// rotation, every trusted node and every active member covered.
func (t *tables) checkSecret(sg *SecretGeneration, threshold int) error {
	switch {
	case t.rotation == 0:
		return fmt.Errorf("no ledger secret rotation is pending")
	case sg.Generation != t.rotation:
		return fmt.Errorf("generation %d, the pending rotation is to %d", sg.Generation, t.rotation)
	case sg.Threshold != threshold:
		return fmt.Errorf("recovery threshold %d, the constitution says %d", sg.Threshold, threshold)
	case len(sg.Commitment) != 32:
		return fmt.Errorf("commitment of %d bytes", len(sg.Commitment))
	}
	for id, n := range t.nodes {
		if n.Status == NodeTrusted && len(sg.Nodes[id]) == 0 {
			return fmt.Errorf("the secret is not encrypted to trusted node %s", short(id))
		}
	}
	if len(sg.Nodes) != t.trustedNodes() {
		return fmt.Errorf("the secret is encrypted to %d nodes, %d are trusted", len(sg.Nodes), t.trustedNodes())
	}
	active := t.activeMembers()
	for _, m := range active {
		if len(sg.Shares[m.ID]) == 0 {
			return fmt.Errorf("no recovery share for member %s", m.Name)
		}
	}
	if len(sg.Shares) != len(active) {
		return fmt.Errorf("%d recovery shares for %d active members", len(sg.Shares), len(active))
	}
	return nil
}

// SecretGenerations lists the recorded generations, oldest first.
func (g *Gov) SecretGenerations() []SecretGeneration {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []SecretGeneration
	for _, gen := range slices.Sorted(maps.Keys(g.t.secrets)) {
		out = append(out, *g.t.secrets[gen])
	}
	return out
}

// PendingRotation is the generation an accepted rotation waits for, 0 if
// none.
func (g *Gov) PendingRotation() uint64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.t.rotation
}

// ActiveMember returns an active member's public identity.
func (g *Gov) ActiveMember(id string) (*MemberPublic, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	m := g.t.members[id]
	if m == nil || m.Status != MemberActive {
		return nil, false
	}
	pub, err := ParseMemberPublic(memberPEM(m))
	return pub, err == nil
}

// ActiveMemberKeys are the active members' public identities, by id.
func (g *Gov) ActiveMemberKeys() []*MemberPublic {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []*MemberPublic
	for _, m := range g.t.activeMembers() {
		if pub, err := ParseMemberPublic(memberPEM(m)); err == nil {
			out = append(out, pub)
		}
	}
	return out
}
