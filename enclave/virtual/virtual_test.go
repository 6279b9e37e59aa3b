package virtual

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cocoledger/coco/enclave"
)

func TestSealRoundTripAndTamper(t *testing.T) {
	e, err := New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := e.Seal([]byte("ledger secret"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("ledger secret")) {
		t.Fatal("sealed data contains the plaintext")
	}
	pt, err := e.Unseal(sealed, []byte("ad"))
	if err != nil || string(pt) != "ledger secret" {
		t.Fatalf("unseal = %q, %v", pt, err)
	}
	if _, err := e.Unseal(sealed, []byte("other ad")); !errors.Is(err, enclave.ErrUnsealFailed) {
		t.Fatalf("wrong ad: %v", err)
	}
	other, _ := New(bytes.Repeat([]byte{2}, 32))
	if _, err := other.Unseal(sealed, []byte("ad")); !errors.Is(err, enclave.ErrUnsealFailed) {
		t.Fatalf("other enclave unsealed: %v", err)
	}
}

func TestOpenPersistsRootKey(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := a.Seal([]byte("x"), nil)
	b, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Unseal(sealed, nil); err != nil {
		t.Fatalf("reopened enclave cannot unseal: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("root key file: %v %v", fi, err)
	}
}

func TestEvidence(t *testing.T) {
	e, _ := New(bytes.Repeat([]byte{3}, 32))
	ev, err := e.Attest([]byte("node key hash"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(ev, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := e.Verify(ev, [][]byte{e.Measurement()}); err != nil {
		t.Fatalf("verify allowed: %v", err)
	}
	if err := e.Verify(ev, [][]byte{[]byte("other")}); !errors.Is(err, enclave.ErrMeasurementNotAllowed) {
		t.Fatalf("disallowed measurement: %v", err)
	}
	forged := *ev
	forged.ReportData = []byte("another key")
	if err := e.Verify(&forged, nil); !errors.Is(err, enclave.ErrEvidence) {
		t.Fatalf("forged evidence: %v", err)
	}
}
