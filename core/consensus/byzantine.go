package consensus

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/types"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"
)

// Byzantine behaviours, for fault tests only: `coco` exposes them solely in
// binaries built with the `byzantine` tag.
const (
	// ByzantineGarbage adds random bytes and envelopes forged in another
	// node's name to everything the node sends.
	ByzantineGarbage = "garbage"
	// ByzantineEquivocate makes the node, when leader, send one follower a
	// different (validly signed) proposal than the others.
	ByzantineEquivocate = "equivocate"
	// ByzantineCensor makes the node ignore every batch that one member
	// (the victim) originated, however it arrives, while it goes on
	// proposing everyone else's: as leader, it censors the victim.
	ByzantineCensor = "censor"
)

// NewByzantineTransport wraps t so that this node misbehaves as mode says.
func NewByzantineTransport(t Transport, mode string, key ed25519.PrivateKey, self uint64, peers []uint64) (Transport, error) {
	switch mode {
	case ByzantineGarbage, ByzantineEquivocate, ByzantineCensor:
	default:
		return nil, fmt.Errorf("byzantine mode %q: want %s, %s or %s", mode, ByzantineGarbage, ByzantineEquivocate, ByzantineCensor)
	}
	b := &byzantine{Transport: t, mode: mode, key: key, self: self, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), self))}
	for _, p := range peers {
		if p != self {
			b.victim = p // the highest other id is equivocated to or censored
		}
	}
	return b, nil
}

type byzantine struct {
	Transport
	mode   string
	key    ed25519.PrivateKey
	self   uint64
	victim uint64
	mu     sync.Mutex
	rng    *rand.Rand
}

// Listen drops, in censor mode, the victim's batches before this node
// sees them.
func (b *byzantine) Listen(self uint64, onMessage func([]byte), onRequest func([]byte) []byte) (func(), error) {
	if b.mode != ByzantineCensor {
		return b.Transport.Listen(self, onMessage, onRequest)
	}
	return b.Transport.Listen(self, func(data []byte) {
		if env, err := bridge.Decode(data); err == nil && env.Kind == kindRequest {
			if sb, err := types.DecodeSealedBatch(env.Payload); err == nil && sb.Origin == b.victim {
				return
			}
		}
		onMessage(data)
	}, onRequest)
}

func (b *byzantine) Send(to uint64, data []byte) {
	switch b.mode {
	case ByzantineCensor:
		b.Transport.Send(to, data)
	case ByzantineGarbage:
		b.mu.Lock()
		garbage := make([]byte, 64+b.rng.IntN(512))
		for i := range garbage {
			garbage[i] = byte(b.rng.IntN(256))
		}
		b.mu.Unlock()
		b.Transport.Send(to, data)
		b.Transport.Send(to, garbage)
		// Signed with this node's key but claiming to come from another.
		b.Transport.Send(to, bridge.Seal(b.key, to%4+1, to, kindConsensus, data))
	case ByzantineEquivocate:
		if to == b.victim {
			data = Equivocate(b.key, b.self, data)
		}
		b.Transport.Send(to, data)
	}
}

// Equivocate rewrites a leader's pre-prepare envelope into a different,
// validly signed proposal (another timestamp, so another digest); other
// messages pass unchanged.
func Equivocate(key ed25519.PrivateKey, self uint64, data []byte) []byte {
	env, err := bridge.Decode(data)
	if err != nil || env.Kind != kindConsensus || env.From != self {
		return data
	}
	var m protos.Message
	if proto.Unmarshal(env.Payload, &m) != nil {
		return data
	}
	pp := m.GetPrePrepare()
	if pp == nil || pp.Proposal == nil {
		return data
	}
	h, err := types.DecodeHeader(pp.Proposal.Header)
	if err != nil {
		return data
	}
	h.TimeMs++
	pp.Proposal.Header = h.Encode()
	payload, err := proto.Marshal(&m)
	if err != nil {
		return data
	}
	return bridge.Seal(key, env.From, env.To, env.Kind, payload)
}
