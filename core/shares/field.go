package shares

// Arithmetic in GF(2^8) with the AES reduction polynomial
// x^8 + x^4 + x^3 + x + 1 (0x11b). Addition is XOR.
//
// mul is branch-free and table-free so that its timing and memory access
// pattern do not depend on the (secret) operands.

// mul returns a·b in GF(2^8).
func mul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= -(b & 1) & a // add a when the low bit of b is set
		b >>= 1
		carry := -(a >> 7) // 0xff when a overflows on the shift
		a = a<<1 ^ 0x1b&carry
	}
	return p
}

// inv returns a⁻¹ = a^254 (Fermat), and 0 for 0. The exponent is fixed, so
// the sequence of operations does not depend on a.
func inv(a byte) byte {
	a2 := mul(a, a)     // a^2
	a3 := mul(a2, a)    // a^3
	a6 := mul(a3, a3)   // a^6
	a12 := mul(a6, a6)  // a^12
	a15 := mul(a12, a3) // a^15
	a30 := mul(a15, a15)
	a60 := mul(a30, a30)
	a120 := mul(a60, a60)
	a240 := mul(a120, a120)
	a252 := mul(a240, a12)
	return mul(a252, a2) // a^254
}
