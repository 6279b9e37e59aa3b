package shares

import "testing"

// slowMul is the schoolbook definition, with branches: the reference the
// constant-time mul is checked against.
func slowMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a&0x80 != 0
		a <<= 1
		if hi {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

func TestMulKnownProducts(t *testing.T) {
	// FIPS-197 section 4.2 examples.
	for _, c := range []struct{ a, b, want byte }{
		{0x57, 0x83, 0xc1}, {0x57, 0x13, 0xfe}, {0x57, 0x02, 0xae}, {0x57, 0x04, 0x47},
		{0x57, 0x08, 0x8e}, {0x57, 0x10, 0x07}, {0x00, 0xff, 0x00}, {0x01, 0xab, 0xab},
	} {
		if got := mul(c.a, c.b); got != c.want {
			t.Errorf("mul(%#02x, %#02x) = %#02x, want %#02x", c.a, c.b, got, c.want)
		}
	}
}

func TestMulMatchesReferenceAndCommutes(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			got := mul(byte(a), byte(b))
			if want := slowMul(byte(a), byte(b)); got != want {
				t.Fatalf("mul(%#02x, %#02x) = %#02x, want %#02x", a, b, got, want)
			}
			if other := mul(byte(b), byte(a)); got != other {
				t.Fatalf("mul not commutative at %#02x, %#02x", a, b)
			}
		}
	}
}

func TestInverse(t *testing.T) {
	if inv(0) != 0 {
		t.Errorf("inv(0) = %#02x, want 0", inv(0))
	}
	seen := map[byte]bool{}
	for a := 1; a < 256; a++ {
		ia := inv(byte(a))
		if got := mul(byte(a), ia); got != 1 {
			t.Errorf("%#02x · inv = %#02x, want 1", a, got)
		}
		seen[ia] = true
	}
	if len(seen) != 255 {
		t.Errorf("inverses of the 255 non-zero elements take %d distinct values", len(seen))
	}
}

func TestDistributiveAndAssociative(t *testing.T) {
	for _, c := range []byte{0x00, 0x01, 0x02, 0x03, 0x1b, 0x53, 0x80, 0xca, 0xff} {
		for a := range 256 {
			for b := range 256 {
				x, y := byte(a), byte(b)
				if mul(c, x^y) != mul(c, x)^mul(c, y) {
					t.Fatalf("c·(a+b) != c·a + c·b for a=%#02x b=%#02x c=%#02x", x, y, c)
				}
				if mul(mul(x, y), c) != mul(x, mul(y, c)) {
					t.Fatalf("(a·b)·c != a·(b·c) for a=%#02x b=%#02x c=%#02x", x, y, c)
				}
			}
		}
	}
}
