"""Binary BCH(127, 64) code (designed distance 21: corrects any 10 bit errors), with
Chase-style soft decoding.

The video watermark loses bits at random positions (one cell group per bit), which suits a
binary code better than a byte-oriented Reed-Solomon code: 10 wrong bits anywhere in the
127 are corrected, where RS(12, 8) over bytes fails at three wrong bytes. With soft values,
the decoder also retries with the least reliable bits flipped (Chase-II), so ~13-14 errors
are usually corrected. Polynomials over GF(2) are Python ints (bit i = coefficient of x^i).
"""

from __future__ import annotations

import itertools

import numpy as np

M = 7
N = 2**M - 1  # 127
T = 10
_PRIM = 0b10001001  # x^7 + x^3 + 1

_EXP = [0] * (2 * N)
_LOG = [0] * (N + 1)
_v = 1
for _i in range(N):
    _EXP[_i] = _EXP[_i + N] = _v
    _LOG[_v] = _i
    _v <<= 1
    if _v & (1 << M):
        _v ^= _PRIM


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


def _gf_inv(a: int) -> int:
    return _EXP[N - _LOG[a]]


def _poly_mul(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        b >>= 1
    return out


def _poly_mod(a: int, m: int) -> int:
    dm = m.bit_length()
    while a.bit_length() >= dm:
        a ^= m << (a.bit_length() - dm)
    return a


def _minimal_poly(i: int) -> int:
    """Minimal polynomial of alpha^i: the product of (x - alpha^j) over its cyclotomic coset."""
    coset = sorted({(i * 2**k) % N for k in range(M)})
    poly = [1]  # coefficients in GF(128), lowest first
    for j in coset:
        root = _EXP[j]
        nxt = [0] * (len(poly) + 1)
        for d, c in enumerate(poly):
            nxt[d + 1] ^= c
            nxt[d] ^= _gf_mul(c, root)
        poly = nxt
    assert all(c in (0, 1) for c in poly)
    return sum(c << d for d, c in enumerate(poly))


def _generator() -> int:
    g, seen = 1, set()
    for i in range(1, 2 * T + 1):
        mp = _minimal_poly(i)
        if mp not in seen:
            seen.add(mp)
            g = _poly_mul(g, mp)
    return g


GENERATOR = _generator()
_POWERS = np.array([[_EXP[(j * p) % N] for p in range(N)] for j in range(1, 2 * T + 1)], dtype=np.int64)
PARITY = GENERATOR.bit_length() - 1  # 63
K = N - PARITY  # 64


def encode(message: int) -> np.ndarray:
    """``message`` (< 2**64) -> 127 code bits (systematic: message bits first, MSB first)."""
    if not 0 <= message < 2**K:
        raise ValueError(f"message must fit in {K} bits")
    shifted = message << PARITY
    word = shifted | _poly_mod(shifted, GENERATOR)
    return np.array([(word >> (N - 1 - i)) & 1 for i in range(N)], dtype=np.uint8)


def _to_int(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits), 2)


def _correct(word: int) -> int | None:
    """Hard-decision decoding (Berlekamp-Massey + Chien search): the codeword within 10 bit
    flips of ``word``, or None."""
    # Syndromes S_j = r(alpha^j), j = 1..2T (bit p of ``word`` = coefficient of x^p).
    positions = [p for p in range(N) if (word >> p) & 1]
    syn = [int(s) for s in np.bitwise_xor.reduce(_POWERS[:, positions], axis=1)] if positions else [0] * (2 * T)
    if not any(syn):
        return word
    # Berlekamp-Massey over GF(128).
    c, b = [1], [1]
    length, m, bb = 0, 1, 1
    for n in range(2 * T):
        d = syn[n]
        for i in range(1, length + 1):
            if i < len(c):
                d ^= _gf_mul(c[i], syn[n - i])
        if d == 0:
            m += 1
            continue
        coef = _gf_mul(d, _gf_inv(bb))
        t = list(c)
        need = len(b) + m
        if len(c) < need:
            c += [0] * (need - len(c))
        for i, bi in enumerate(b):
            c[i + m] ^= _gf_mul(coef, bi)
        if 2 * length <= n:
            length, b, bb, m = n + 1 - length, t, d, 1
        else:
            m += 1
    c = c[: length + 1]
    if length > T:
        return None
    # Chien search: error at position p when Lambda(alpha^-p) == 0.
    errors = []
    for p in range(N):
        acc = 0
        for i, ci in enumerate(c):
            if ci:
                acc ^= _EXP[(_LOG[ci] - i * p) % N]
        if acc == 0:
            errors.append(p)
    if len(errors) != length:
        return None
    for p in errors:
        word ^= 1 << p
    return word


def decode(bits: np.ndarray, soft: np.ndarray | None = None, *, chase: int = 4) -> int | None:
    """127 hard bits (and optionally their soft values: sign = bit, magnitude = reliability)
    -> the 64-bit message, or None. With ``soft``, every flip pattern of the ``chase`` least
    reliable bits is tried too; the candidate closest to the soft values wins."""
    base = _to_int(bits)
    flips: list[tuple[int, ...]] = [()]
    if soft is not None and chase > 0:
        weakest = [int(i) for i in np.argsort(np.abs(soft))[:chase]]
        flips += [combo for r in range(1, chase + 1) for combo in itertools.combinations(weakest, r)]
    best: tuple[float, int] | None = None
    for combo in flips:
        word = base
        for i in combo:
            word ^= 1 << (N - 1 - i)
        fixed = _correct(word)
        if fixed is None:
            continue
        if soft is None or not combo:
            return fixed >> PARITY  # the hard decision decodes: no need to search
        diff = fixed ^ base
        cost = float(sum(abs(soft[N - 1 - p]) for p in range(N) if (diff >> p) & 1))
        if best is None or cost < best[0]:
            best = (cost, fixed)
    return None if best is None else best[1] >> PARITY
