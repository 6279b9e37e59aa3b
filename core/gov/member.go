package gov

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// PEM block types of member files. A member's public file (name.pem) holds
// the certificate and the encryption key; the private file (name.key) the
// two private keys.
const (
	pemCertificate   = "CERTIFICATE"
	pemEncryptionKey = "COCO MEMBER ENCRYPTION KEY" // X25519 public key, raw
	pemSigningKey    = "PRIVATE KEY"                // PKCS#8 ECDSA P-256
	pemDecryptionKey = "COCO MEMBER DECRYPTION KEY" // X25519 private key, raw
)

// ErrMemberKey marks a member file or key that cannot be used.
var ErrMemberKey = errors.New("member key")

// MemberPublic is what the network knows of a member: a self-signed
// ECDSA P-256 certificate (requests are signed with its key) and an X25519
// key that recovery shares are encrypted to.
type MemberPublic struct {
	Cert          *x509.Certificate
	EncryptionKey *ecdh.PublicKey
}

// ID is the member's identity in the tables: the hex SHA-256 of its
// certificate.
func (m *MemberPublic) ID() string { return MemberID(m.Cert.Raw) }

// Name is the certificate's common name.
func (m *MemberPublic) Name() string { return m.Cert.Subject.CommonName }

// MemberID is the hex SHA-256 of a DER certificate.
func MemberID(certDER []byte) string {
	h := sha256.Sum256(certDER)
	return hex.EncodeToString(h[:])
}

// PEM encodes the public file.
func (m *MemberPublic) PEM() []byte {
	out := pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: m.Cert.Raw})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: pemEncryptionKey, Bytes: m.EncryptionKey.Bytes()})...)
}

// ParseMemberPublic reads a member's public file.
func ParseMemberPublic(data []byte) (*MemberPublic, error) {
	var m MemberPublic
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case pemCertificate:
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: certificate: %v", ErrMemberKey, err)
			}
			m.Cert = cert
		case pemEncryptionKey:
			k, err := ecdh.X25519().NewPublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: encryption key: %v", ErrMemberKey, err)
			}
			m.EncryptionKey = k
		}
	}
	if m.Cert == nil || m.EncryptionKey == nil {
		return nil, fmt.Errorf("%w: want a %s and a %s PEM block", ErrMemberKey, pemCertificate, pemEncryptionKey)
	}
	if err := checkMemberCert(m.Cert); err != nil {
		return nil, err
	}
	return &m, nil
}

func checkMemberCert(cert *x509.Certificate) error {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return fmt.Errorf("%w: certificate key must be ECDSA P-256", ErrMemberKey)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return fmt.Errorf("%w: certificate is not self-signed: %v", ErrMemberKey, err)
	}
	return nil
}

// MemberKey is a member's private identity, held by the member only.
type MemberKey struct {
	MemberPublic
	signing    *ecdsa.PrivateKey
	decryption *ecdh.PrivateKey
}

// NewMemberKey creates a member identity with a self-signed certificate for
// name.
func NewMemberKey(name string) (*MemberKey, error) {
	signing, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	decryption, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Coco member"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &signing.PublicKey, signing)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &MemberKey{MemberPublic: MemberPublic{Cert: cert, EncryptionKey: decryption.PublicKey()}, signing: signing, decryption: decryption}, nil
}

// DecryptionKey is the X25519 key recovery shares are encrypted to.
func (k *MemberKey) DecryptionKey() *ecdh.PrivateKey { return k.decryption }

// PrivatePEM encodes the private file. It holds secrets: write it 0600.
func (k *MemberKey) PrivatePEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.signing)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: pemSigningKey, Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: pemDecryptionKey, Bytes: k.decryption.Bytes()})...), nil
}

// ParseMemberKey reads a member's public and private files and checks that
// they belong together.
func ParseMemberKey(public, private []byte) (*MemberKey, error) {
	pub, err := ParseMemberPublic(public)
	if err != nil {
		return nil, err
	}
	k := &MemberKey{MemberPublic: *pub}
	for {
		var b *pem.Block
		b, private = pem.Decode(private)
		if b == nil {
			break
		}
		switch b.Type {
		case pemSigningKey:
			key, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: signing key: %v", ErrMemberKey, err)
			}
			ec, ok := key.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%w: signing key is not ECDSA", ErrMemberKey)
			}
			k.signing = ec
		case pemDecryptionKey:
			d, err := ecdh.X25519().NewPrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: decryption key: %v", ErrMemberKey, err)
			}
			k.decryption = d
		}
	}
	if k.signing == nil || k.decryption == nil {
		return nil, fmt.Errorf("%w: private file wants a %s and a %s PEM block", ErrMemberKey, pemSigningKey, pemDecryptionKey)
	}
	if !k.signing.PublicKey.Equal(pub.Cert.PublicKey) || !k.decryption.PublicKey().Equal(pub.EncryptionKey) {
		return nil, fmt.Errorf("%w: private keys do not match the certificate %s", ErrMemberKey, pub.ID())
	}
	return k, nil
}
