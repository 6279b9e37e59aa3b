package node

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cocoledger/coco/core/consensus"
	"github.com/cocoledger/coco/core/durable"
	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave"
	"github.com/nats-io/nats.go"
)

// A node that is not in genesis joins in two steps, over the bus:
//
//  1. it sends its attested join request (gov.KindJoin, signed by its node
//     key) on joinSubject; one trusted node checks it and orders it, and
//     every replica records the node as pending;
//  2. it asks on secretSubject, until the members have trusted it, for its
//     consensus id and the ledger secret; a trusted node answers with the
//     secret HPKE-encrypted to the encryption key the governance table
//     holds for it, so only that enclave can open it.
//
// Then it starts as a follower of the chain and takes part in consensus
// once the blocks it has caught up with make it a member.
func joinSubject(network string) string   { return "coco." + network + ".join" }
func secretSubject(network string) string { return "coco." + network + ".secret" }

// membershipFile records, for a node not in genesis, the consensus id that
// governance gave it.
const membershipFile = "membership.json"

type membership struct {
	ConsensusID uint64 `json:"consensus_id"`
	// Recovered: the node restored the network (coco node recover).
	Recovered bool `json:"recovered,omitempty"`
	// Sources are the consensus set when the node was trusted: where it
	// catches up from, since the set its own head knows may be long gone.
	Sources []uint64 `json:"sources,omitempty"`
}

type secretRequest struct {
	NodeID string `json:"node_id"`
}

type secretReply struct {
	Status      string `json:"status"` // a gov node status, or "unknown"
	ConsensusID uint64 `json:"consensus_id,omitempty"`
	// Peers are the answering node's consensus set.
	Peers []uint64 `json:"peers,omitempty"`
	// Secrets are every ledger secret generation, each HPKE-encrypted to
	// the node's encryption key.
	Secrets map[uint64][]byte `json:"secrets,omitempty"`
}

// ErrRetired means this node's identity was retired by governance.
var ErrRetired = errors.New("this node was retired by governance")

// Joined reports whether the node in dataDir is in genesis or has joined.
func Joined(dataDir string, g *Genesis, id *Identity) bool {
	if _, err := g.Self(id.PublicKey()); err == nil {
		return true
	}
	_, err := os.Stat(filepath.Join(dataDir, membershipFile))
	return err == nil
}

// Join asks the network on bus to take this node in and waits until the
// members trust it. It returns once the ledger secret is sealed in the
// data directory; the node then opens and starts as usual.
func Join(ctx context.Context, dataDir string, enc enclave.Enclave, g *Genesis, bus *nats.Conn, log *slog.Logger) error {
	id, err := LoadIdentity(dataDir, enc)
	if err != nil {
		return err
	}
	if Joined(dataDir, g, id) {
		return nil
	}
	info, err := id.Info(enc)
	if err != nil {
		return err
	}
	req, err := gov.SignJoin(id.Key, &gov.Request{Network: g.Network, Node: &gov.NodeJoin{
		ID: info.NodeID, PublicKey: info.PublicKey, EncryptionKey: info.EncryptionKey, Evidence: info.Evidence,
	}})
	if err != nil {
		return err
	}
	log.Info("asking the network to join", "node_id", info.NodeID, "measurement", fmt.Sprintf("%x", info.Evidence.Measurement))
	// asked: a join request was ordered (or refused as a replay of one
	// that was); a refused one is asked again every 10 s, since governance
	// may allow the node's code meanwhile.
	var (
		asked, pending  bool
		logged, nextAsk time.Time
		askedAt         time.Time
		lastReason      string
	)
	for {
		if !asked && time.Now().After(nextAsk) {
			reply, err := bus.RequestWithContext(ctx, joinSubject(g.Network), req.Encode())
			var r gov.Result
			switch {
			case err == nil && string(reply.Data) == "ok":
				asked, askedAt = true, time.Now()
				log.Info("join request submitted", "node_id", info.NodeID)
			case err == nil && json.Unmarshal(reply.Data, &r) == nil && strings.Contains(r.Reason, gov.ErrReplayed.Error()):
				asked, askedAt = true, time.Now()
			case err == nil:
				if r.Reason != lastReason {
					log.Warn("join request refused; asking again every 10 s", "reason", r.Reason)
					lastReason = r.Reason
				}
				nextAsk = time.Now().Add(10 * time.Second)
			case ctx.Err() != nil:
				return ctx.Err()
			}
		}
		if asked {
			body, _ := json.Marshal(secretRequest{NodeID: info.NodeID})
			if reply, err := bus.RequestWithContext(ctx, secretSubject(g.Network), body); err == nil {
				var r secretReply
				if err := json.Unmarshal(reply.Data, &r); err == nil {
					switch r.Status {
					case gov.NodeTrusted:
						return finishJoin(dataDir, enc, id, g.Network, r, log)
					case gov.NodeRetired:
						return ErrRetired
					case "unknown":
						if time.Since(askedAt) > 10*time.Second {
							asked = false // the submitted request was lost before ordering
						}
					case gov.NodePending:
						if !pending {
							pending, logged = true, time.Now()
							log.Info("recorded as pending; waiting for the members to trust this node",
								"node_id", info.NodeID, "members_run", "coco gov propose trust-node "+info.NodeID)
						}
					}
				}
			}
		}
		if pending && time.Since(logged) > 30*time.Second {
			log.Info("still pending: waiting for the members to trust this node", "node_id", info.NodeID)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func finishJoin(dataDir string, enc enclave.Enclave, id *Identity, network string, r secretReply, log *slog.Logger) error {
	got := secrets{}
	for gen, ct := range r.Secrets {
		secret, err := hpke.Open(id.EncryptionKey(), hpke.HKDFSHA256(), hpke.AES256GCM(), ledgerSecretInfo(network), ct)
		if err != nil {
			return fmt.Errorf("join: cannot open ledger secret generation %d a peer sent: %w", gen, err)
		}
		got[gen] = secret
	}
	if len(got) == 0 {
		return errors.New("join: a peer sent no ledger secret")
	}
	if err := saveSecrets(dataDir, enc, got); err != nil {
		return err
	}
	m, _ := json.Marshal(membership{ConsensusID: r.ConsensusID, Sources: r.Peers})
	if err := durable.WriteFile(filepath.Join(dataDir, membershipFile), m); err != nil {
		return err
	}
	log.Info("trusted by the network; received the ledger secret", "consensus_id", r.ConsensusID, "generations", len(got))
	return nil
}

// selfID is this node's consensus id: from genesis, or from the membership
// governance gave it when it joined.
func selfID(dataDir string, g *Genesis, id *Identity) (uint64, *GenesisNode, error) {
	if gn, err := g.Self(id.PublicKey()); err == nil {
		return gn.ID, gn, nil
	}
	data, err := os.ReadFile(filepath.Join(dataDir, membershipFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, fmt.Errorf("%w: this node (%s) is not in genesis network %q and has not joined it (coco node join)", ErrGenesis, id.NodeID(), g.Network)
	}
	if err != nil {
		return 0, nil, err
	}
	var m membership
	if err := json.Unmarshal(data, &m); err != nil || (m.ConsensusID == 0 && !m.Recovered) {
		return 0, nil, fmt.Errorf("%s: invalid membership record", membershipFile)
	}
	return m.ConsensusID, nil, nil
}

// serveJoins answers joining nodes on the bus: join requests are checked
// and ordered by one node of the queue group; secret requests are answered
// for trusted nodes only.
func (n *Node) serveJoins(bus *nats.Conn) (func(), error) {
	join, err := bus.QueueSubscribe(joinSubject(n.genesis.Network), "coco-nodes", func(m *nats.Msg) {
		if _, _, err := n.gov.Check(m.Data); err != nil {
			res, _ := json.Marshal(gov.Result{Reason: err.Error()})
			_ = m.Respond(res)
			return
		}
		if err := n.Submit(types.Tx{Namespace: types.GovNamespace, Payload: m.Data}); err != nil {
			res, _ := json.Marshal(gov.Result{Reason: err.Error()})
			_ = m.Respond(res)
			return
		}
		_ = m.Respond([]byte("ok"))
	})
	if err != nil {
		return nil, err
	}
	secret, err := bus.QueueSubscribe(secretSubject(n.genesis.Network), "coco-nodes", func(m *nats.Msg) {
		var req secretRequest
		if json.Unmarshal(m.Data, &req) != nil {
			return
		}
		reply := n.secretFor(req.NodeID)
		data, _ := json.Marshal(reply)
		_ = m.Respond(data)
	})
	if err != nil {
		join.Unsubscribe()
		return nil, err
	}
	return func() { _ = join.Unsubscribe(); _ = secret.Unsubscribe() }, nil
}

// secretFor encrypts the ledger secret to a trusted node's registered key.
func (n *Node) secretFor(nodeID string) secretReply {
	row, ok := n.gov.Node(nodeID)
	if !ok {
		return secretReply{Status: "unknown"}
	}
	if row.Status != gov.NodeTrusted {
		return secretReply{Status: row.Status}
	}
	pk, err := hpkeKEM.NewPublicKey(row.EncryptionKey)
	if err != nil {
		n.log.Error("trusted node has an unusable encryption key", "node", nodeID, "err", err)
		return secretReply{Status: "unknown"}
	}
	reply := secretReply{Status: gov.NodeTrusted, ConsensusID: row.ConsensusID, Secrets: map[uint64][]byte{}}
	for _, p := range n.Peers() {
		reply.Peers = append(reply.Peers, p.ID)
	}
	n.secretsMu.Lock()
	defer n.secretsMu.Unlock()
	for gen, secret := range n.secrets {
		ct, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), ledgerSecretInfo(n.genesis.Network), secret)
		if err != nil {
			return secretReply{Status: "unknown"}
		}
		reply.Secrets[gen] = ct
	}
	n.log.Info("sent the ledger secret to a trusted node", "node", nodeID, "consensus_id", row.ConsensusID, "generations", len(reply.Secrets))
	return reply
}

// Peers implements consensus.Membership: the trusted nodes of the
// governance table.
func (n *Node) Peers() []consensus.Peer {
	var peers []consensus.Peer
	for _, row := range n.gov.TrustedNodes() {
		peers = append(peers, consensus.Peer{ID: row.ConsensusID, Key: ed25519.PublicKey(row.PublicKey)})
	}
	return peers
}

// RetiredPeers implements consensus.FormerMembers.
func (n *Node) RetiredPeers() []consensus.FormerPeer {
	var peers []consensus.FormerPeer
	for _, row := range n.gov.Nodes() {
		if row.Status == gov.NodeRetired && row.ConsensusID != 0 {
			peers = append(peers, consensus.FormerPeer{
				Peer:  consensus.Peer{ID: row.ConsensusID, Key: ed25519.PublicKey(row.PublicKey)},
				Until: row.Retired,
			})
		}
	}
	return peers
}

// MembershipVersion implements consensus.Membership.
func (n *Node) MembershipVersion() uint64 { return n.gov.MembershipVersion() }

// catchUpSources are the nodes a joined node catches up from (membership).
func catchUpSources(dataDir string) []uint64 {
	data, err := os.ReadFile(filepath.Join(dataDir, membershipFile))
	if err != nil {
		return nil
	}
	var m membership
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return m.Sources
}
