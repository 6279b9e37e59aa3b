//go:build enclave

package sgx

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cocoledger/coco/enclave"
	"github.com/edgelesssys/ego/eclient"
	egoenclave "github.com/edgelesssys/ego/enclave"
)

// Platform is the evidence platform name.
const Platform = "sgx"

// ErrNotInEnclave means the process is not running inside an SGX enclave.
var ErrNotInEnclave = errors.New("sgx: not running inside an SGX enclave (EGo returned a zero seal key)")

// Enclave is the running SGX enclave.
type Enclave struct {
	*enclave.KeySealer
	measurement []byte // MRENCLAVE
}

// Open derives the sealing key bound to the enclave's product (MRSIGNER and
// product id, so upgrades signed by the same key can unseal) and reads the
// enclave's own measurement.
func Open() (*Enclave, error) {
	key, _, err := egoenclave.GetProductSealKey()
	if err != nil {
		return nil, fmt.Errorf("sgx: seal key: %w", err)
	}
	if len(key) == 0 || bytes.Equal(key, make([]byte, len(key))) {
		return nil, ErrNotInEnclave
	}
	self, err := egoenclave.GetSelfReport()
	if err != nil {
		return nil, fmt.Errorf("sgx: self report: %w", err)
	}
	sealer, err := enclave.NewKeySealer(key, "sgx/seal")
	if err != nil {
		return nil, err
	}
	return &Enclave{KeySealer: sealer, measurement: self.UniqueID}, nil
}

// Hardware is true: SGX protects this enclave.
func (*Enclave) Hardware() bool { return true }

// Platform names the evidence format.
func (*Enclave) Platform() string { return Platform }

// Measurement is MRENCLAVE.
func (e *Enclave) Measurement() []byte { return bytes.Clone(e.measurement) }

// Attest produces a remote report over SHA-256-sized report data.
func (e *Enclave) Attest(reportData []byte) (*enclave.Evidence, error) {
	report, err := egoenclave.GetRemoteReport(reportData)
	if err != nil {
		return nil, fmt.Errorf("sgx: remote report: %w", err)
	}
	return &enclave.Evidence{Platform: Platform, Measurement: e.Measurement(), ReportData: bytes.Clone(reportData), Report: report}, nil
}

// Verify checks a remote report (signature chain, TCB) and that it carries
// the claimed measurement and report data.
func (*Enclave) Verify(ev *enclave.Evidence, allowed [][]byte) error {
	if ev == nil || ev.Platform != Platform {
		return fmt.Errorf("%w: not SGX evidence", enclave.ErrEvidence)
	}
	r, err := eclient.VerifyRemoteReport(ev.Report)
	if err != nil {
		return fmt.Errorf("%w: %v", enclave.ErrEvidence, err)
	}
	if r.Debug {
		return fmt.Errorf("%w: debug enclave", enclave.ErrEvidence)
	}
	if !bytes.Equal(r.UniqueID, ev.Measurement) || !bytes.HasPrefix(r.Data, ev.ReportData) {
		return fmt.Errorf("%w: report does not match the claimed measurement or data", enclave.ErrEvidence)
	}
	if allowed == nil {
		return nil
	}
	for _, m := range allowed {
		if bytes.Equal(m, r.UniqueID) {
			return nil
		}
	}
	return fmt.Errorf("%w: %x", enclave.ErrMeasurementNotAllowed, r.UniqueID)
}

var _ enclave.Enclave = (*Enclave)(nil)
