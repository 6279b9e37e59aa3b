package virtual

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/cocoledger/coco/enclave"
)

// Warning is what logs and status endpoints print about this enclave.
const Warning = "virtual enclave: no hardware protection"

// Platform is the evidence platform name.
const Platform = "virtual"

const keyFile = "virtual-enclave.key"

// Enclave is a software enclave rooted in a key file.
type Enclave struct {
	platformKey ed25519.PrivateKey
	*enclave.KeySealer
	measurement []byte
}

var (
	measureOnce sync.Once
	measurement []byte
)

// binaryMeasurement hashes the running executable, as SGX measures the
// enclave image.
func binaryMeasurement() []byte {
	measureOnce.Do(func() {
		h := sha256.New()
		if exe, err := os.Executable(); err == nil {
			if f, err := os.Open(exe); err == nil {
				_, _ = io.Copy(h, f)
				f.Close()
			}
		}
		measurement = h.Sum(nil)
	})
	return measurement
}

// Open loads the virtual enclave's root key from dir, creating it on first use.
func Open(dir string, log *slog.Logger) (*Enclave, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("virtual enclave: %w", err)
	}
	path := filepath.Join(dir, keyFile)
	seed, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, seed, 0o600); err != nil {
			return nil, fmt.Errorf("virtual enclave: write root key: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("virtual enclave: %w", err)
	case len(seed) != ed25519.SeedSize:
		return nil, fmt.Errorf("virtual enclave: root key %s is corrupt (%d bytes)", path, len(seed))
	}
	if log != nil {
		log.Warn(Warning+": keys are plain files and attestation is a software signature; development only", "root_key", path)
	}
	return New(seed)
}

// New builds an enclave from a 32-byte root seed (tests use fixed seeds).
func New(seed []byte) (*Enclave, error) {
	sealer, err := enclave.NewKeySealer(seed, "virtual/seal")
	if err != nil {
		return nil, err
	}
	return &Enclave{
		KeySealer:   sealer,
		platformKey: ed25519.NewKeyFromSeed(seed),
		measurement: binaryMeasurement(),
	}, nil
}

// Hardware is false: nothing protects this enclave.
func (*Enclave) Hardware() bool { return false }

// Platform names the evidence format.
func (*Enclave) Platform() string { return Platform }

// Measurement is the SHA-256 of the running binary.
func (e *Enclave) Measurement() []byte { return bytes.Clone(e.measurement) }

func evidenceMessage(measurement, reportData []byte) []byte {
	msg := []byte("coco/virtual-evidence/v1:")
	msg = append(msg, byte(len(measurement)))
	msg = append(msg, measurement...)
	return append(msg, reportData...)
}

// Attest signs reportData together with the measurement.
func (e *Enclave) Attest(reportData []byte) (*enclave.Evidence, error) {
	return &enclave.Evidence{
		Platform:    Platform,
		Measurement: e.Measurement(),
		ReportData:  bytes.Clone(reportData),
		Report:      ed25519.Sign(e.platformKey, evidenceMessage(e.measurement, reportData)),
		PlatformKey: e.platformKey.Public().(ed25519.PublicKey),
	}, nil
}

// Verify checks a virtual enclave's software signature and the measurement.
// It proves only that the holder of the platform key produced the evidence:
// virtual evidence is accepted for development networks only.
func (*Enclave) Verify(ev *enclave.Evidence, allowed [][]byte) error {
	if ev == nil || ev.Platform != Platform {
		return fmt.Errorf("%w: not virtual-enclave evidence", enclave.ErrEvidence)
	}
	if len(ev.PlatformKey) != ed25519.PublicKeySize ||
		!ed25519.Verify(ev.PlatformKey, evidenceMessage(ev.Measurement, ev.ReportData), ev.Report) {
		return fmt.Errorf("%w: bad virtual report signature", enclave.ErrEvidence)
	}
	if allowed == nil {
		return nil
	}
	for _, m := range allowed {
		if bytes.Equal(m, ev.Measurement) {
			return nil
		}
	}
	return fmt.Errorf("%w: %x", enclave.ErrMeasurementNotAllowed, ev.Measurement)
}

var _ enclave.Enclave = (*Enclave)(nil)
