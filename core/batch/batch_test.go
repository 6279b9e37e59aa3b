package batch

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cocoledger/coco/core/types"
)

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, ed25519.SeedSize))

func testKeyring(t testing.TB) *Keyring {
	k, err := NewKeyring(1, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := testKeyring(t)
	b := &types.Batch{Origin: 1, Seq: 5, Txs: []types.Tx{{Namespace: "eth", Payload: []byte("secret payload"), Sender: []byte{1}}}}
	sb, err := k.Seal(b, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(types.EncodeSealedBatch(sb), []byte("secret payload")) {
		t.Fatal("sealed batch leaks plaintext")
	}
	got, err := k.Open(sb)
	if err != nil || string(got.Txs[0].Payload) != "secret payload" {
		t.Fatalf("open: %v %v", got, err)
	}
	// Moving a sealed batch to another position is detected.
	moved := *sb
	moved.Seq = 6
	if _, err := k.Open(&moved); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("moved batch opened: %v", err)
	}
	flipped := *sb
	flipped.Ciphertext = bytes.Clone(sb.Ciphertext)
	flipped.Ciphertext[20] ^= 1
	if _, err := k.Open(&flipped); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("tampered batch opened: %v", err)
	}
	other, _ := NewKeyring(1, bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(sb); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("foreign key opened batch: %v", err)
	}
	unknown := *sb
	unknown.KeyGen = 9
	if _, err := k.Open(&unknown); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("unknown generation: %v", err)
	}
}

func TestOriginSignature(t *testing.T) {
	k := testKeyring(t)
	sb, _ := k.Seal(&types.Batch{Origin: 1, Seq: 1}, testKey)
	if err := VerifyOrigin(sb, testKey.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("own signature: %v", err)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, ed25519.SeedSize))
	if err := VerifyOrigin(sb, other.Public().(ed25519.PublicKey)); !errors.Is(err, ErrBadOrigin) {
		t.Fatalf("batch accepted under another node's key: %v", err)
	}
	moved := *sb
	moved.Seq = 2
	if err := VerifyOrigin(&moved, testKey.Public().(ed25519.PublicKey)); !errors.Is(err, ErrBadOrigin) {
		t.Fatalf("signature survived a change of sequence: %v", err)
	}
}

func TestPublicTransactionsTravelInClearAndSigned(t *testing.T) {
	k := testKeyring(t)
	b := &types.Batch{Origin: 1, Seq: 3, Txs: []types.Tx{
		{Namespace: types.GovNamespace, Payload: []byte("proposal one")},
		{Namespace: "eth", Payload: []byte("secret payload")},
		{Namespace: types.GovNamespace, Payload: []byte("ballot two")},
	}}
	sb, err := k.Seal(b, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(sb.Public) != 2 || string(sb.Public[0].Payload) != "proposal one" || string(sb.Public[1].Payload) != "ballot two" {
		t.Fatalf("public part %+v", sb.Public)
	}
	if bytes.Contains(sb.Ciphertext, []byte("proposal")) || bytes.Contains(types.EncodeSealedBatch(sb), []byte("secret payload")) {
		t.Fatal("sealed and public parts mixed up")
	}
	got, err := k.Open(sb)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, tx := range got.Txs {
		order = append(order, string(tx.Payload))
	}
	if fmt.Sprint(order) != "[secret payload proposal one ballot two]" {
		t.Fatalf("opened order %v: want sealed first, then public in order", order)
	}
	pub := testKey.Public().(ed25519.PublicKey)
	if err := VerifyOrigin(sb, pub); err != nil {
		t.Fatal(err)
	}
	forged := *sb
	forged.Public = []types.Tx{{Namespace: types.GovNamespace, Payload: []byte("forged")}}
	if err := VerifyOrigin(&forged, pub); !errors.Is(err, ErrBadOrigin) {
		t.Fatalf("changed public part kept the origin's signature: %v", err)
	}
	// A private namespace in clear is refused even when signed.
	leaky := *sb
	leaky.Public = []types.Tx{{Namespace: "eth", Payload: []byte("oops")}}
	if _, err := k.Open(&leaky); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("private namespace in the public part: %v", err)
	}
}

func TestRotationKeepsOldBatchesReadable(t *testing.T) {
	k := testKeyring(t)
	old, _ := k.Seal(&types.Batch{Origin: 1, Seq: 1}, testKey)
	if err := k.Add(2, bytes.Repeat([]byte{9}, 32)); err != nil {
		t.Fatal(err)
	}
	fresh, _ := k.Seal(&types.Batch{Origin: 1, Seq: 2}, testKey)
	if fresh.KeyGen != 2 {
		t.Fatalf("new batches sealed with generation %d", fresh.KeyGen)
	}
	if _, err := k.Open(old); err != nil {
		t.Fatalf("old batch unreadable after rotation: %v", err)
	}
}

type recorder struct {
	mu      sync.Mutex
	batches []*types.Batch
	keys    *Keyring
}

func (r *recorder) submit(_ context.Context, sb *types.SealedBatch) error {
	b, err := r.keys.Open(sb)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
	return nil
}

func (r *recorder) count() (batches, txs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		txs += len(b.Txs)
	}
	return len(r.batches), txs
}

func TestBatcherCutsByCountAndKeepsOrder(t *testing.T) {
	cfg := Config{MaxTxs: 10, MaxBytes: 1 << 20, Linger: time.Hour, PoolSize: 100}
	k := testKeyring(t)
	rec := &recorder{keys: k}
	b := New(cfg, 3, testKey, k, rec.submit, slog.New(slog.DiscardHandler))
	for i := range 30 {
		if err := b.Submit(types.Tx{Namespace: "eth", Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	for {
		if n, _ := rec.count(); n == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	var seq uint64
	i := 0
	for _, batch := range rec.batches {
		if batch.Origin != 3 || batch.Seq <= seq || len(batch.Txs) != 10 {
			t.Fatalf("batch origin %d seq %d (prev %d) with %d txs", batch.Origin, batch.Seq, seq, len(batch.Txs))
		}
		seq = batch.Seq
		for _, tx := range batch.Txs {
			if string(tx.Payload) != fmt.Sprint(i) {
				t.Fatalf("tx %d out of order: %s", i, tx.Payload)
			}
			i++
		}
	}
}

func TestBatcherLingerFlushesPartialBatch(t *testing.T) {
	cfg := Config{MaxTxs: 1000, MaxBytes: 1 << 20, Linger: time.Millisecond, PoolSize: 1000}
	k := testKeyring(t)
	rec := &recorder{keys: k}
	b := New(cfg, 1, testKey, k, rec.submit, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	_ = b.Submit(types.Tx{Payload: []byte("lonely")})
	for {
		if _, n := rec.count(); n == 1 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatcherCutsByBytes(t *testing.T) {
	cfg := Config{MaxTxs: 1000, MaxBytes: 64 << 10, Linger: time.Hour, PoolSize: 1000}
	k := testKeyring(t)
	rec := &recorder{keys: k}
	b := New(cfg, 1, testKey, k, rec.submit, slog.New(slog.DiscardHandler))
	for range 5 {
		_ = b.Submit(types.Tx{Payload: make([]byte, 20<<10)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	for {
		// 5 × 20 KiB with a 64 KiB cap: 3 + 2; the last batch waits for linger,
		// so only the first (full) batch arrives.
		if n, txs := rec.count(); n == 1 {
			if txs != 3 {
				t.Fatalf("first batch has %d txs, want 3", txs)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSubmitRefusesWhenFullOrTooLarge(t *testing.T) {
	cfg := Config{MaxTxs: 2, MaxBytes: 64 << 10, Linger: 0, PoolSize: 2}
	b := New(cfg, 1, testKey, testKeyring(t), nil, slog.New(slog.DiscardHandler))
	if err := b.Submit(types.Tx{Payload: make([]byte, 65<<10)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	_ = b.Submit(types.Tx{})
	_ = b.Submit(types.Tx{})
	if err := b.Submit(types.Tx{}); !errors.Is(err, ErrPoolFull) {
		t.Fatalf("full pool: %v", err)
	}
}

func BenchmarkSeal(b *testing.B) {
	k := testKeyring(b)
	batch := &types.Batch{Origin: 1, Seq: 1}
	for range 500 {
		batch.Txs = append(batch.Txs, types.Tx{Namespace: "eth", Payload: make([]byte, 110), Sender: make([]byte, 20)})
	}
	b.ReportAllocs()
	for b.Loop() {
		sb, _ := k.Seal(batch, testKey)
		if _, err := k.Open(sb); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSetLimitsCapsBatchesAndNeverExceedsTheConfiguration(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTxs, cfg.Linger = 10, 50*time.Millisecond
	k := testKeyring(t)
	r := &recorder{keys: k}
	b := New(cfg, 1, testKey, k, r.submit, slog.New(slog.DiscardHandler))
	b.SetLimits(3, 0)
	if tx, by := b.Limits(); tx != 3 || by != cfg.MaxBytes {
		t.Fatalf("limits %d %d", tx, by)
	}
	b.SetLimits(1000, 1<<40)
	if tx, by := b.Limits(); tx != cfg.MaxTxs || by != cfg.MaxBytes {
		t.Fatalf("limits above the configuration: %d %d", tx, by)
	}
	b.SetLimits(3, 64<<10)
	if err := b.Submit(types.Tx{Namespace: "x", Payload: make([]byte, 65<<10)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize under the new limit: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	for i := range 7 {
		if err := b.Submit(types.Tx{Namespace: "x", Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if batches, txs := r.count(); txs == 7 {
			if batches < 3 {
				t.Fatalf("7 transactions in %d batches under a limit of 3", batches)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("transactions not batched")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
