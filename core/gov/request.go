package gov

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cocoledger/coco/enclave"
)

// Request kinds.
const (
	KindPropose  = "propose"
	KindVote     = "vote"
	KindWithdraw = "withdraw"
	// KindJoin is a node asking to be recorded as pending; it is signed by
	// the node's own key, not a member's.
	KindJoin = "join"
)

// Ballots.
const (
	Accept = "accept"
	Reject = "reject"
)

// MaxRequestSize bounds a signed request; constitutions and certificates
// are a few KiB.
const MaxRequestSize = 256 << 10

var (
	// ErrBadRequest marks a request that cannot be decoded or is malformed.
	ErrBadRequest = errors.New("bad governance request")
	// ErrBadSignature marks a request not signed by the member it names.
	ErrBadSignature = errors.New("bad signature")
)

// Request is what a member signs: a proposal (a list of actions), a ballot
// on a proposal, or the withdrawal of the member's own proposal.
type Request struct {
	Kind    string `json:"kind"`
	Network string `json:"network"` // binds the request to one network
	Member  string `json:"member"`  // member id (MemberID of the certificate)
	// Height is the ledger height the member saw when signing. Together
	// with the network's request age limit it bounds how long a signed but
	// unsent request stays usable.
	Height   uint64            `json:"height"`
	Actions  []Action          `json:"actions,omitempty"`  // propose
	Proposal string            `json:"proposal,omitempty"` // vote, withdraw
	Ballot   string            `json:"ballot,omitempty"`   // vote: accept or reject
	Node     *NodeJoin         `json:"node,omitempty"`     // join
	Secret   *SecretGeneration `json:"secret,omitempty"`   // ledger_secret
	Recovery *RecoveryShare    `json:"recovery,omitempty"` // recovery_share
	// Nonce keeps two otherwise identical requests (say, the same proposal
	// made twice on purpose) apart; their ids are the hash of the bytes.
	Nonce string `json:"nonce,omitempty"`
}

// NodeJoin is what a joining node presents: its keys and the attestation
// evidence binding them to its code.
type NodeJoin struct {
	ID            string            `json:"id"`             // hex SHA-256 of PublicKey
	PublicKey     []byte            `json:"public_key"`     // ed25519
	EncryptionKey []byte            `json:"encryption_key"` // X25519 (HPKE)
	Evidence      *enclave.Evidence `json:"evidence"`
}

// Action is one change a proposal asks for.
type Action struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Signed is a request as it travels and is stored: the exact bytes the
// member signed and the signature over them.
type Signed struct {
	Request   json.RawMessage `json:"request"`
	Signature []byte          `json:"signature"` // ECDSA P-256, ASN.1, over Digest(Request)
}

// Digest is what a member's key signs.
func Digest(request []byte) []byte {
	h := sha256.New()
	h.Write([]byte("coco/gov/request/v1\x00"))
	h.Write(request)
	return h.Sum(nil)
}

// ID identifies a signed request; a proposal's id is its request's id.
func (s *Signed) ID() string {
	h := sha256.Sum256(s.Request)
	return hex.EncodeToString(h[:])
}

// Sign encodes and signs a request with the member's key.
func (k *MemberKey) Sign(r *Request) (*Signed, error) {
	r.Member = k.ID()
	if r.Nonce == "" {
		var n [8]byte
		if _, err := rand.Read(n[:]); err != nil {
			return nil, err
		}
		r.Nonce = hex.EncodeToString(n[:])
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	sig, err := ecdsa.SignASN1(rand.Reader, k.signing, Digest(body))
	if err != nil {
		return nil, err
	}
	return &Signed{Request: body, Signature: sig}, nil
}

// Encode is the transaction payload of a signed request.
func (s *Signed) Encode() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // raw JSON checked at decode, bytes: cannot fail
	}
	return b
}

// DecodeSigned parses a transaction payload. The request bytes are kept
// exactly as signed.
func DecodeSigned(payload []byte) (*Signed, *Request, error) {
	if len(payload) > MaxRequestSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadRequest, len(payload), MaxRequestSize)
	}
	var s Signed
	if err := json.Unmarshal(payload, &s); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if len(s.Request) == 0 || len(s.Signature) == 0 {
		return nil, nil, fmt.Errorf("%w: want request and signature", ErrBadRequest)
	}
	var r Request
	if err := json.Unmarshal(s.Request, &r); err != nil {
		return nil, nil, fmt.Errorf("%w: request: %v", ErrBadRequest, err)
	}
	switch r.Kind {
	case KindPropose:
		if len(r.Actions) == 0 {
			return nil, nil, fmt.Errorf("%w: a proposal needs at least one action", ErrBadRequest)
		}
	case KindVote:
		if r.Ballot != Accept && r.Ballot != Reject {
			return nil, nil, fmt.Errorf("%w: ballot %q, want %s or %s", ErrBadRequest, r.Ballot, Accept, Reject)
		}
		fallthrough
	case KindWithdraw:
		if r.Proposal == "" {
			return nil, nil, fmt.Errorf("%w: %s names no proposal", ErrBadRequest, r.Kind)
		}
	case KindRecoverNetwork:
		if r.Node == nil || len(r.Node.PublicKey) != ed25519.PublicKeySize || r.Node.Evidence == nil {
			return nil, nil, fmt.Errorf("%w: a recovery vote names the recovering node with its keys and evidence", ErrBadRequest)
		}
		if h := sha256.Sum256(r.Node.PublicKey); hex.EncodeToString(h[:]) != r.Node.ID {
			return nil, nil, fmt.Errorf("%w: node id is not the hash of its public key", ErrBadRequest)
		}
	case KindRecoveryShare:
		if r.Recovery == nil || r.Recovery.Node == "" || len(r.Recovery.Share) == 0 {
			return nil, nil, fmt.Errorf("%w: a recovery share names the recovering node and carries the share", ErrBadRequest)
		}
	case KindLedgerSecret:
		if r.Secret == nil || r.Member == "" {
			return nil, nil, fmt.Errorf("%w: a ledger secret request needs the node and the generation", ErrBadRequest)
		}
	case KindJoin:
		if r.Node == nil || len(r.Node.PublicKey) != ed25519.PublicKeySize || r.Node.Evidence == nil {
			return nil, nil, fmt.Errorf("%w: a join request needs the node's public key and evidence", ErrBadRequest)
		}
		if h := sha256.Sum256(r.Node.PublicKey); hex.EncodeToString(h[:]) != r.Node.ID {
			return nil, nil, fmt.Errorf("%w: node id is not the hash of its public key", ErrBadRequest)
		}
	default:
		return nil, nil, fmt.Errorf("%w: kind %q, want %s, %s, %s or %s", ErrBadRequest, r.Kind, KindPropose, KindVote, KindWithdraw, KindJoin)
	}
	return &s, &r, nil
}

// SignJoin encodes and signs a node's join request with its node key.
func SignJoin(key ed25519.PrivateKey, r *Request) (*Signed, error) {
	r.Kind = KindJoin
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return &Signed{Request: body, Signature: ed25519.Sign(key, Digest(body))}, nil
}

// Verify checks the signature against the member's certificate.
func (s *Signed) Verify(m *MemberPublic) error {
	pub, _ := m.Cert.PublicKey.(*ecdsa.PublicKey)
	if pub == nil || !ecdsa.VerifyASN1(pub, Digest(s.Request), s.Signature) {
		return fmt.Errorf("%w: request not signed by member %s", ErrBadSignature, m.ID())
	}
	return nil
}
