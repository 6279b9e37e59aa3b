package shares

import (
	"bytes"
	"testing"
)

func BenchmarkSplitCombine32n7k4(b *testing.B) {
	secret := bytes.Repeat([]byte{0xa5}, 32)
	r := testRand(11)
	for b.Loop() {
		sh, err := Split(secret, 7, 4, r)
		if err != nil {
			b.Fatal(err)
		}
		got, err := Combine(sh[2:6])
		if err != nil || !bytes.Equal(got, secret) {
			b.Fatal("round trip failed")
		}
	}
}

func BenchmarkSealOpen(b *testing.B) {
	key := memberKey(b)
	s := Share{Index: 1, Value: bytes.Repeat([]byte{0xa5}, 32)}
	info := Info("bench", 1)
	for b.Loop() {
		ct, err := Seal(s, key.PublicKey(), info)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Open(ct, key, info); err != nil {
			b.Fatal(err)
		}
	}
}
