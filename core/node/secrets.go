package node

import (
	"crypto/hpke"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"slices"
	"time"

	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	secretGeneration = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "coco", Name: "ledger_secret_generation", Help: "Ledger secret generation new batches are sealed with.",
	})
	rotationPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "coco", Name: "ledger_secret_rotation_pending", Help: "Generation an accepted rotation (or a node retired, a member removed) waits for; 0 when none. Pending for long means no trusted node could issue it.",
	})
)

func init() { prometheus.MustRegister(secretGeneration, rotationPending) }

// secrets are the ledger secret generations this node holds, sealed
// together in ledgerSecretFile. Old generations stay: blocks sealed with
// them must remain readable.
type secrets map[uint64][]byte

func (s secrets) current() uint64 { return slices.Max(slices.Collect(maps.Keys(s))) }

// loadSecrets unseals the node's ledger secrets, or on first start opens
// the copy genesis encrypted to this node and seals it locally.
func loadSecrets(dir string, enc enclave.Sealer, id *Identity, self *GenesisNode, network string) (secrets, error) {
	data, err := unsealFile(dir, ledgerSecretFile, enc)
	if err == nil {
		var s secrets
		if json.Unmarshal(data, &s) == nil && len(s) > 0 {
			return s, nil
		}
		return secrets{1: data}, nil // a single generation, as written before rotation existed
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if self == nil {
		return nil, fmt.Errorf("%w: no sealed ledger secret in %s: a node not in genesis gets it by joining (coco node join)", ErrGenesis, dir)
	}
	secret, err := self.OpenLedgerSecret(id, network)
	if err != nil {
		return nil, err
	}
	s := secrets{1: secret}
	return s, saveSecrets(dir, enc, s)
}

func saveSecrets(dir string, enc enclave.Sealer, s secrets) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	defer clear(data)
	return sealToFile(dir, ledgerSecretFile, data, enc)
}

// afterCommit installs ledger secret generations governance has recorded
// for this node, and answers a pending rotation.
func (n *Node) afterCommit() {
	for _, sg := range n.gov.SecretGenerations() {
		n.secretsMu.Lock()
		_, have := n.secrets[sg.Generation]
		n.secretsMu.Unlock()
		ct := sg.Nodes[n.id.NodeID()]
		if have || len(ct) == 0 {
			continue
		}
		secret, err := hpke.Open(n.id.EncryptionKey(), hpke.HKDFSHA256(), hpke.AES256GCM(), gov.NodeSecretInfo(n.genesis.Network), ct)
		if err != nil {
			n.log.Error("cannot open a ledger secret generation encrypted to this node", "generation", sg.Generation, "err", err)
			continue
		}
		if err := n.installSecret(sg.Generation, secret); err != nil {
			n.log.Error("cannot install ledger secret generation", "generation", sg.Generation, "err", err)
			continue
		}
		n.log.Info("ledger secret rotated: new batches are sealed with the new generation", "generation", sg.Generation, "issuer", sg.Issuer, "block", sg.Block)
	}
	secretGeneration.Set(float64(n.SecretGeneration()))
	gen := n.gov.PendingRotation()
	rotationPending.Set(float64(gen))
	if !n.started.Load() {
		return // a recovery block written during Start; the next commit catches up
	}
	n.applyBatchLimits()
	n.applyFlushTurn()
	if gen != 0 {
		key := n.rotationKey(gen)
		if last := n.issued.Load(); last == nil || *last != key {
			n.issued.Store(&key)
			go n.issueSecret(gen, key)
		}
	}
}

// rotationKey names what the secret of a pending rotation must cover. A
// secret issued before a node is retired or trusted, or a member removed or
// added, is refused when ordered after that change: a changed key makes the
// nodes issue it again.
func (n *Node) rotationKey(gen uint64) string {
	key := fmt.Sprintf("%d/%d", gen, n.gov.Constitution().RecoveryThreshold)
	for _, row := range n.gov.TrustedNodes() {
		key += "/" + row.ID
	}
	for _, m := range n.gov.ActiveMemberKeys() {
		key += "/" + m.ID()
	}
	return key
}

func (n *Node) installSecret(gen uint64, secret []byte) error {
	n.secretsMu.Lock()
	defer n.secretsMu.Unlock()
	next := maps.Clone(n.secrets)
	next[gen] = secret
	if err := saveSecrets(n.cfg.DataDir, n.enc, next); err != nil {
		return err
	}
	n.secrets = next
	return n.keys.Add(gen, secret)
}

// issueSecret generates the secret of a pending rotation and submits it:
// trusted nodes take turns by consensus id, so usually one issues it and
// the others find the rotation done; if two race, the first ordered wins.
func (n *Node) issueSecret(gen uint64, key string) {
	rank := 0
	for i, p := range n.Peers() {
		if p.ID == n.self {
			rank = i
		}
	}
	jitter, _ := rand.Int(rand.Reader, big.NewInt(200))
	time.Sleep(time.Duration(rank)*time.Second + time.Duration(jitter.Int64())*time.Millisecond)
	if n.gov.PendingRotation() != gen || *n.issued.Load() != key || !n.cons.IsMember() {
		return
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return
	}
	defer clear(secret)
	nodes := map[string][]byte{}
	for _, row := range n.gov.TrustedNodes() {
		nodes[row.ID] = row.EncryptionKey
	}
	sg, err := gov.NewGeneration(n.genesis.Network, gen, secret, nodes, n.gov.ActiveMemberKeys(), n.gov.Constitution().RecoveryThreshold)
	if err != nil {
		n.log.Error("cannot build the rotated ledger secret", "generation", gen, "err", err)
		return
	}
	s, err := gov.SignLedgerSecret(n.id.Key, n.id.NodeID(), n.genesis.Network, sg)
	if err != nil {
		return
	}
	if err := n.Submit(types.Tx{Namespace: types.GovNamespace, Payload: s.Encode()}); err != nil {
		n.log.Warn("cannot submit the rotated ledger secret", "generation", gen, "err", err)
		return
	}
	n.log.Info("issued a new ledger secret generation", "generation", gen, "nodes", len(nodes), "recovery_shares", len(sg.Shares), "threshold", sg.Threshold)
}

// SecretGeneration is the generation new batches are sealed with.
func (n *Node) SecretGeneration() uint64 {
	n.secretsMu.Lock()
	defer n.secretsMu.Unlock()
	return n.secrets.current()
}

// applyBatchLimits gives the batcher the limits governance set, when they
// change.
func (n *Node) applyBatchLimits() {
	if !n.started.Load() {
		return
	}
	p := n.gov.Params()
	want := [2]int{p.BatchMaxTxs, p.BatchMaxBytes}
	if old := n.batchLimits.Swap(&want); old != nil && *old == want {
		return
	}
	n.batcher.SetLimits(want[0], want[1])
	tx, by := n.batcher.Limits()
	n.log.Info("batch limits in force", "max_txs", tx, "max_bytes", by, "governance_max_txs", want[0], "governance_max_bytes", want[1])
}
