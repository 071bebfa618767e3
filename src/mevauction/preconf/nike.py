"""BN254 (alt_bn128) G1 key agreement, as mev-commit's bid/commitment NIKE.

In mev-commit each bid carries a fresh BN254 public key ``bidderPK = sk_b·G`` with
G = (1, 2) (``p2p/pkg/crypto/ecdh.go``, ``GenerateKeyPairBN254``); the provider
derives ``sharedKey = sk_p·bidderPK`` (``DeriveSharedKey``) and puts its affine
coordinates into the commitment digest. The bidder, knowing ``sk_b`` and the
provider's public key, derives the same point and so can check a commitment.

Jacobian coordinates with gmpy2 integers and a 4-bit fixed window; one scalar
multiplication costs a single modular inversion at the end.
"""

from __future__ import annotations

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


def multiply(point: tuple[int, int], scalar: int) -> tuple[int, int]:
    """``scalar · point`` for a finite affine point; raises BadPoint off the curve."""
    x, y = point
    if not on_curve(x, y):
        raise BadPoint("not on the BN254 curve y^2 = x^3 + 3")
    scalar %= GROUP_R
    if scalar == 0:
        raise BadPoint("scalar is zero modulo the group order")
    base: _Jac = (mpz(x), mpz(y), mpz(1))
    table = [_INFINITY, base]
    for _ in range(14):
        table.append(_add(table[-1], base))
    acc = _INFINITY
    for shift in range((scalar.bit_length() + 3) // 4 * 4 - 4, -1, -4):
        acc = _double(_double(_double(_double(acc))))
        nibble = (scalar >> shift) & 0xF
        if nibble:
            acc = _add(acc, table[nibble])
    return _to_affine(acc)


def keypair() -> tuple[int, tuple[int, int]]:
    """A fresh (secret scalar, public point) pair."""
    secret = secrets.randbelow(GROUP_R - 1) + 1
    return secret, multiply(GENERATOR, secret)


def shared_key(secret: int, peer_public: tuple[int, int]) -> tuple[int, int]:
    return multiply(peer_public, secret)
