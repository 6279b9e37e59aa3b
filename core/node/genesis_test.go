package node

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/enclave"
	"github.com/cocoledger/coco/enclave/virtual"
)

func newInfo(t *testing.T) (string, *Info) {
	t.Helper()
	dir := t.TempDir()
	_, info := initNode(t, dir)
	return dir, info
}

// initNode creates a node identity in dir.
func initNode(t *testing.T, dir string) (*virtual.Enclave, *Info) {
	t.Helper()
	enc, err := virtual.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := InitIdentity(dir, enc)
	if err != nil {
		t.Fatal(err)
	}
	info, err := id.Info(enc)
	if err != nil {
		t.Fatal(err)
	}
	return enc, info
}

func TestGenesisRefusesBadEvidence(t *testing.T) {
	_, a := newInfo(t)
	_, b := newInfo(t)
	v, _ := virtual.New(bytes.Repeat([]byte{1}, 32))

	swapped := *b
	swapped.EncryptionKey = a.EncryptionKey // evidence no longer matches the keys
	if _, err := NewGenesis("n", []*Info{a, &swapped}, v, nil, TrustBFT, testGov(t, TrustBFT), nil); !errors.Is(err, enclave.ErrEvidence) {
		t.Fatalf("evidence over other keys: %v", err)
	}
	if _, err := NewGenesis("n", []*Info{a, b}, v, [][]byte{[]byte("other code")}, TrustBFT, testGov(t, TrustBFT), nil); !errors.Is(err, enclave.ErrMeasurementNotAllowed) {
		t.Fatalf("disallowed measurement: %v", err)
	}
	if _, err := NewGenesis("n", []*Info{a, a}, v, nil, TrustBFT, testGov(t, TrustBFT), nil); !errors.Is(err, ErrGenesis) {
		t.Fatalf("duplicate node: %v", err)
	}
	if _, err := NewGenesis("n", []*Info{a}, v, nil, "trust-me", testGov(t, "trust-me"), nil); !errors.Is(err, ErrGenesis) {
		t.Fatalf("unknown trust model: %v", err)
	}
}

func TestGenesisSecretAndMembership(t *testing.T) {
	dirA, a := newInfo(t)
	dirOut, _ := newInfo(t)
	v, _ := virtual.New(bytes.Repeat([]byte{1}, 32))
	g, err := NewGenesis("n", []*Info{a}, v, nil, TrustTEE, testGov(t, TrustTEE), nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "genesis.json")
	if err := SaveGenesis(path, g); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadGenesis(path)
	if err != nil || loaded.Hash() != g.Hash() {
		t.Fatalf("reload: %v", err)
	}
	if bytes.Contains(g.Encode(), []byte("ledger_secret\": \"\"")) {
		t.Fatal("no sealed ledger secret in genesis")
	}

	// A node that is not in genesis cannot open it.
	encOut, _ := virtual.Open(dirOut, nil)
	if _, err := Open(testConfig(dirOut), encOut, g, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrGenesis) {
		t.Fatalf("outsider opened the network: %v", err)
	}
	// A member opens it and finds its ledger secret.
	encA, _ := virtual.Open(dirA, nil)
	n, err := Open(testConfig(dirA), encA, g, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()

	// Its data directory refuses another network's genesis.
	other, _ := NewGenesis("other", []*Info{a}, v, nil, TrustTEE, testGov(t, TrustTEE), nil)
	os.Remove(filepath.Join(dirA, ledgerSecretFile))
	if _, err := Open(testConfig(dirA), encA, other, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrGenesis) {
		t.Fatalf("opened a data dir with another network's genesis: %v", err)
	}

	// A hand-edited genesis file is refused.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte(`"network": "n"`), []byte(`"network":"n"`), 1), 0o600)
	if _, err := LoadGenesis(path); !errors.Is(err, ErrGenesis) {
		t.Fatalf("edited genesis accepted: %v", err)
	}
}

// testGov is a governance section with one fresh member.
func testGov(t testing.TB, trust string) gov.Genesis {
	k, err := gov.NewMemberKey("tester")
	if err != nil {
		t.Fatal(err)
	}
	return gov.Genesis{Members: []string{string(k.PEM())}, Params: gov.DefaultParams(trust, 1)}
}
