package shares

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzUnmarshalBinary(f *testing.F) {
	for _, seed := range [][]byte{nil, {1}, {1, 1, 0}, {1, 255, 1, 2, 3}, {2, 1, 1}, {1, 0, 9}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Share
		if err := s.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrShares) {
				t.Fatalf("error %v is not ErrShares", err)
			}
			return
		}
		if s.Index == 0 || len(s.Value) == 0 {
			t.Fatalf("accepted invalid share %v", s)
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded share does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("round trip %x -> %x", data, again)
		}
		if len(data) > 2 {
			data[2] ^= 0xff
			if s.Value[0] == data[2] {
				t.Fatal("decoded value aliases the input")
			}
		}
	})
}
