"""BN254 (alt_bn128) G1 key agreement, as mev-commit's bid/commitment NIKE.

In mev-commit each bid carries a fresh BN254 public key ``bidderPK = sk_b·G`` with
G = (1, 2) (``p2p/pkg/crypto/ecdh.go``, ``GenerateKeyPairBN254``); the provider
derives ``sharedKey = sk_p·bidderPK`` (``DeriveSharedKey``) and puts its affine
coordinates into the commitment digest. The bidder, knowing ``sk_b`` and the
provider's public key, derives the same point and so can check a commitment.

Jacobian coordinates with gmpy2 integers. Scalar multiplication uses the GLV
endomorphism φ(x, y) = (βx, y) = λ·(x, y) of BN254: k·P = k1·P + k2·φ(P) with k1, k2
of about 128 bits, evaluated jointly with 2-bit windows, so it needs half the
doublings of a plain ladder and one modular inversion at the end. β, λ and the short
lattice basis are derived at import from the curve constants (no tables copied).
"""

from __future__ import annotations

import math
import secrets

import gmpy2
from gmpy2 import mpz

FIELD_P = mpz(21888242871839275222246405745257275088696311157297823662689037894645226208583)
GROUP_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
CURVE_B = 3
GENERATOR = (1, 2)

_Jac = tuple  # (X, Y, Z); Z == 0 is the point at infinity
_INFINITY: _Jac = (mpz(1), mpz(1), mpz(0))


class BadPoint(ValueError):
    """Coordinates that are not a finite point of BN254 G1."""


def on_curve(x: int, y: int) -> bool:
    return 0 <= x < FIELD_P and 0 <= y < FIELD_P and (y * y - x * x * x - CURVE_B) % FIELD_P == 0


def _double(pt: _Jac) -> _Jac:
    x, y, z = pt
    if z == 0 or y == 0:
        return _INFINITY
    p = FIELD_P
    yy = y * y % p
    s = 4 * x * yy % p
    m = 3 * x * x % p  # a = 0 on BN254
    nx = (m * m - 2 * s) % p
    ny = (m * (s - nx) - 8 * yy * yy) % p
    nz = 2 * y * z % p
    return (nx, ny, nz)


def _add(a: _Jac, b: _Jac) -> _Jac:
    if a[2] == 0:
        return b
    if b[2] == 0:
        return a
    p = FIELD_P
    x1, y1, z1 = a
    x2, y2, z2 = b
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    if u1 == u2:
        return _double(a) if s1 == s2 else _INFINITY
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    nx = (r * r - hhh - 2 * v) % p
    ny = (r * (v - nx) - s1 * hhh) % p
    nz = h * z1 * z2 % p
    return (nx, ny, nz)


def _to_affine(pt: _Jac) -> tuple[int, int]:
    x, y, z = pt
    if z == 0:
        raise BadPoint("result is the point at infinity")
    zinv = gmpy2.invert(z, FIELD_P)
    zinv2 = zinv * zinv % FIELD_P
    return int(x * zinv2 % FIELD_P), int(y * zinv2 * zinv % FIELD_P)


def _plain_multiply(base: _Jac, scalar: int) -> _Jac:
    acc = _INFINITY
    for bit in bin(scalar)[2:]:
        acc = _double(acc)
        if bit == "1":
            acc = _add(acc, base)
    return acc


def _cube_root_of_unity(modulus: int) -> int:
    for g in range(2, 100):
        root = pow(g, (modulus - 1) // 3, modulus)
        if root != 1:
            return root
    raise AssertionError("no cube root of unity found")


def _glv_constants() -> tuple[int, int, tuple[int, int], tuple[int, int]]:
    """β in F_p and λ mod r with φ(G) = λ·G, and a short basis of {(a, b): a + bλ ≡ 0 mod r}."""
    beta = _cube_root_of_unity(int(FIELD_P))
    lam = _cube_root_of_unity(GROUP_R)
    g = (mpz(GENERATOR[0]), mpz(GENERATOR[1]), mpz(1))
    if _to_affine(_plain_multiply(g, lam)) != (beta * GENERATOR[0] % int(FIELD_P), GENERATOR[1]):
        lam = lam * lam % GROUP_R
    # Extended Euclid on (r, λ), stopped around sqrt(r) (Guide to ECC, Alg. 3.74).
    bound = math.isqrt(GROUP_R)
    rs, ts = [GROUP_R, lam], [0, 1]
    while rs[-1] >= bound:
        q = rs[-2] // rs[-1]
        rs.append(rs[-2] - q * rs[-1])
        ts.append(ts[-2] - q * ts[-1])
    q = rs[-2] // rs[-1]
    r_next, t_next = rs[-2] - q * rs[-1], ts[-2] - q * ts[-1]
    v1 = (rs[-1], -ts[-1])
    candidates = [(rs[-2], -ts[-2]), (r_next, -t_next)]
    v2 = min(candidates, key=lambda v: v[0] ** 2 + v[1] ** 2)
    return beta, lam, v1, v2


_BETA, _LAMBDA, _V1, _V2 = _glv_constants()


def _split(k: int) -> tuple[int, int]:
    """k ≡ k1 + k2·λ (mod r) with |k1|, |k2| ≈ sqrt(r)."""
    (a1, b1), (a2, b2) = _V1, _V2
    det = a1 * b2 - a2 * b1
    c1 = (b2 * k * 2 + det) // (2 * det)
    c2 = (-b1 * k * 2 + det) // (2 * det)
    return k - c1 * a1 - c2 * a2, -c1 * b1 - c2 * b2


def _negate(pt: _Jac) -> _Jac:
    return (pt[0], (-pt[1]) % FIELD_P, pt[2])


def multiply(point: tuple[int, int], scalar: int) -> tuple[int, int]:
    """``scalar · point`` for a finite affine point; raises BadPoint off the curve."""
    x, y = point
    if not on_curve(x, y):
        raise BadPoint("not on the BN254 curve y^2 = x^3 + 3")
    scalar %= GROUP_R
    if scalar == 0:
        raise BadPoint("scalar is zero modulo the group order")
    k1, k2 = _split(scalar)
    p1: _Jac = (mpz(x), mpz(y), mpz(1))
    p2: _Jac = (mpz(_BETA) * x % FIELD_P, mpz(y), mpz(1))
    if k1 < 0:
        k1, p1 = -k1, _negate(p1)
    if k2 < 0:
        k2, p2 = -k2, _negate(p2)
    # table[i + 4j] = i·P1 + j·P2 for i, j in 0..3
    row = [_INFINITY, p1, _double(p1), _add(_double(p1), p1)]
    col = [_INFINITY, p2, _double(p2), _add(_double(p2), p2)]
    table = [_add(row[i], col[j]) for j in range(4) for i in range(4)]
    acc = _INFINITY
    top = max(k1.bit_length(), k2.bit_length())
    for shift in range((top + 1) // 2 * 2 - 2, -1, -2):
        acc = _double(_double(acc))
        index = ((k1 >> shift) & 3) + 4 * ((k2 >> shift) & 3)
        if index:
            acc = _add(acc, table[index])
    return _to_affine(acc)


def keypair() -> tuple[int, tuple[int, int]]:
    """A fresh (secret scalar, public point) pair."""
    secret = secrets.randbelow(GROUP_R - 1) + 1
    return secret, multiply(GENERATOR, secret)


def shared_key(secret: int, peer_public: tuple[int, int]) -> tuple[int, int]:
    return multiply(peer_public, secret)
