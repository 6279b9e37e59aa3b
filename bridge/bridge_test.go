package bridge

import (
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cocoledger/coco/bridge/bustest"
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

func TestExternalURLValidation(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"nats://127.0.0.1:4222", true},
		{"nats://10.0.0.1:4222,nats://10.0.0.2:4222", true},
		{"nats://a:4222, tls://b:4222", true},
		{"127.0.0.1:4222", false},
		{"http://127.0.0.1:4222", false},
		{"nats://a:4222,", false},
	} {
		cfg := DefaultConfig()
		cfg.URL = tc.url
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("url %q: err %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

// An external server that cannot carry a whole proposal is refused at
// start-up, with what to change.
func TestExternalServerWithSmallPayloadLimitRefused(t *testing.T) {
	srv := bustest.Server(t, 1<<20)
	cfg := DefaultConfig()
	cfg.URL = srv.ClientURL()
	_, err := Start(cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrPayloadLimit) || !strings.Contains(err.Error(), "raise max_payload") {
		t.Fatalf("start over a 1 MiB server: %v", err)
	}
}

// Given several servers of an external cluster, a node's connection moves
// to another when its server goes, and messages flow again.
func TestExternalClusterFailover(t *testing.T) {
	a := bustest.Server(t, 8<<20)
	b := bustest.Server(t, 8<<20, a)
	cfg := DefaultConfig()
	cfg.URL = a.ClientURL() + "," + b.ClientURL()
	pub, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if pub.Peers() != -1 {
		t.Fatalf("peers %d on an external bus, want -1", pub.Peers())
	}
	// The publisher's server goes; the subscriber is on the other one.
	gone, stays := a, b
	if pub.ClientURL() == b.ClientURL() {
		gone, stays = b, a
	}
	sub, err := nats.Connect(stays.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan []byte, 16)
	if _, err := sub.Subscribe(ConsensusSubject("t", 1), func(m *nats.Msg) { got <- m.Data }); err != nil {
		t.Fatal(err)
	}
	_ = sub.Flush()
	deadline := time.Now().Add(10 * time.Second)
	for a.NumRoutes() == 0 || b.NumRoutes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("servers not routed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gone.Shutdown()
	for i := 0; ; i++ {
		_ = pub.Conn().Publish(ConsensusSubject("t", 1), []byte("after"))
		select {
		case m := <-got:
			if string(m) != "after" {
				t.Fatalf("got %q", m)
			}
			if pub.ClientURL() != stays.ClientURL() {
				t.Fatalf("publisher on %s, want %s", pub.ClientURL(), stays.ClientURL())
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if i > 100 {
			t.Fatal("no message through the surviving server within 10 s")
		}
	}
}

// A port another process holds is named in the start-up error.
func TestEmbeddedServerOnATakenPortSaysSo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := DefaultConfig()
	cfg.Listen = l.Addr().String()
	_, err = Start(cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("start on a taken port: %v", err)
	}
}
