package bridge

import (
	"crypto/ed25519"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestEnvelopeSignatures(t *testing.T) {
	pub1, key1, _ := ed25519.GenerateKey(nil)
	_, key2, _ := ed25519.GenerateKey(nil)
	keys := func(id uint64) ed25519.PublicKey {
		if id == 1 {
			return pub1
		}
		return nil
	}
	env, err := Open(Seal(key1, 1, 2, 7, []byte("hello")), 2, keys)
	if err != nil || string(env.Payload) != "hello" || env.Kind != 7 {
		t.Fatalf("open: %+v %v", env, err)
	}
	if _, err := Open(Seal(key2, 1, 2, 7, []byte("forged")), 2, keys); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged envelope: %v", err)
	}
	if _, err := Open(Seal(key1, 3, 2, 7, nil), 2, keys); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("unknown sender: %v", err)
	}
	if _, err := Open(Seal(key1, 1, 3, 7, nil), 2, keys); !errors.Is(err, ErrBadEnvelope) {
		t.Fatalf("misaddressed: %v", err)
	}
	if _, err := Open([]byte("garbage"), 2, keys); !errors.Is(err, ErrBadEnvelope) {
		t.Fatalf("garbage: %v", err)
	}
	data := Seal(key1, 1, 2, 7, []byte("hello"))
	data[len(data)-70] ^= 1 // inside the payload or signature
	if _, err := Open(data, 2, keys); err == nil {
		t.Fatal("tampered envelope accepted")
	}
}

func TestEmbeddedServerRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	b, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan []byte, 1)
	sub, err := b.Conn().Subscribe(ConsensusSubject("t", 1), func(m *nats.Msg) { got <- m.Data })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	big := make([]byte, 2<<20) // above NATS's 1 MB default
	if err := b.Conn().Publish(ConsensusSubject("t", 1), big); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if len(m) != len(big) {
			t.Fatalf("got %d bytes", len(m))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("message not delivered")
	}
}
