package bridge

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/rlp"
)

// Subjects. Every node listens on its own consensus subject.
func ConsensusSubject(network string, to uint64) string {
	return fmt.Sprintf("coco.%s.consensus.%d", network, to)
}

// Sentinel errors for envelopes that must be dropped.
var (
	ErrBadEnvelope  = errors.New("bus: malformed envelope")
	ErrUnknownPeer  = errors.New("bus: envelope from unknown node")
	ErrBadSignature = errors.New("bus: bad envelope signature")
)

// Envelope is one signed bus message.
type Envelope struct {
	From    uint64
	To      uint64
	Kind    uint8
	Payload []byte
	Sig     []byte
}

func (e *Envelope) signingBytes() []byte {
	b, _ := rlp.EncodeToBytes([]any{"coco/envelope/v1", e.From, e.To, e.Kind, e.Payload})
	return b
}

// Seal signs and encodes an envelope.
func Seal(key ed25519.PrivateKey, from, to uint64, kind uint8, payload []byte) []byte {
	e := Envelope{From: from, To: to, Kind: kind, Payload: payload}
	e.Sig = ed25519.Sign(key, e.signingBytes())
	b, _ := rlp.EncodeToBytes(&e)
	return b
}

// Open decodes an envelope addressed to self and checks its signature
// against the sender's known key.
func Open(data []byte, self uint64, keys func(id uint64) ed25519.PublicKey) (*Envelope, error) {
	var e Envelope
	if err := rlp.DecodeBytes(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEnvelope, err)
	}
	if e.To != self {
		return nil, fmt.Errorf("%w: addressed to %d", ErrBadEnvelope, e.To)
	}
	pub := keys(e.From)
	if pub == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownPeer, e.From)
	}
	if !ed25519.Verify(pub, e.signingBytes(), e.Sig) {
		return nil, fmt.Errorf("%w from node %d", ErrBadSignature, e.From)
	}
	return &e, nil
}

// Decode parses an envelope without checking its signature: for tools that
// inspect or rewrite their own messages, never for accepting one.
func Decode(data []byte) (*Envelope, error) {
	var e Envelope
	if err := rlp.DecodeBytes(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEnvelope, err)
	}
	return &e, nil
}
