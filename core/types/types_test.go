package types

import (
	"bytes"
	"errors"
	"testing"
)

func TestBlockRoundTripAndHash(t *testing.T) {
	b := &Block{
		Header: Header{
			Number: 7, PrevHash: Sum([]byte("parent")), TimeMs: 1234,
			BatchesHash: Sum([]byte("batches")), HistorySize: 3, HistoryRoot: Sum([]byte("root")),
			PrevStateRoots: []Root{{Namespace: "eth", Root: Sum([]byte("state"))}},
		},
		Batches:    []SealedBatch{{Origin: 1, Seq: 2, KeyGen: 1, Ciphertext: []byte{1, 2, 3}}},
		Metadata:   []byte{9},
		Signatures: []Signature{{Signer: 1, Value: []byte{4}, Msg: SigningBytes(&Header{Number: 7})}},
	}
	got, err := DecodeBlock(b.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), b.Encode()) || got.Header.Hash() != b.Header.Hash() {
		t.Fatal("block does not round-trip")
	}
	// The hash commits to every header field.
	h2 := b.Header
	h2.PrevStateRoots = []Root{{Namespace: "eth", Root: Sum([]byte("other"))}}
	if h2.Hash() == b.Header.Hash() {
		t.Fatal("header hash ignores the state roots")
	}
	if !bytes.HasPrefix(SigningBytes(&b.Header), []byte("coco/block/v1:")) {
		t.Fatal("signing bytes lack their domain separator")
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, f := range []func([]byte) error{
		func(b []byte) error { _, err := DecodeBlock(b); return err },
		func(b []byte) error { _, err := DecodeHeader(b); return err },
		func(b []byte) error { _, err := DecodeBatches(b); return err },
		func(b []byte) error { _, err := DecodeSealedBatch(b); return err },
		func(b []byte) error { _, err := DecodeBatch(b); return err },
	} {
		if err := f([]byte{0xff, 0x00}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("garbage: %v", err)
		}
	}
}

func TestTxHashSeparatesNamespace(t *testing.T) {
	a := Tx{Namespace: "ab", Payload: []byte("c")}
	b := Tx{Namespace: "a", Payload: []byte("bc")}
	if a.Hash() == b.Hash() {
		t.Fatal("namespace and payload run together in the hash")
	}
}
