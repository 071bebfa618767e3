"""secp256k1 as Ethereum uses it: one sign, one recover, one address rule.

- Signatures are 65 bytes ``r ‖ s ‖ v``. :func:`sign` writes v = 27/28 (what
  ``eth_sign``, Flashbots and mev-commit put on the wire); :func:`recover` accepts v in
  {0, 1, 27, 28}, the two spellings of the recovery id that tooling produces.
- One low-s policy (EIP-2): :func:`sign` always produces s ≤ n/2 (RFC 6979 nonces,
  normalised by libsecp256k1) and every recovery refuses s > n/2, so the malleable
  twin of a signature never counts as a second, different one.
- An address is the last 20 bytes of keccak256 of the 64-byte uncompressed public key;
  the package spells it in lower case (``0x…``); :func:`~mevauction.eth.fields.checksum` gives the EIP-55
  mixed-case form for display and for formats that require it.
- Every failure is a :class:`BadSignature` naming the field.
"""

from __future__ import annotations

import functools

import coincurve

from mevauction.eth.errors import InputError
from mevauction.eth.keccak import keccak

#: The order of the curve's group; private keys and r, s lie in [1, N).
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = N // 2


class BadSignature(InputError):
    """A signature that does not parse, is malleable, or does not recover."""


def private_key(secret: bytes | int | str, field: str = "private_key") -> bytes:
    """A 32-byte private key from bytes, an int, or hex text; refuses 0 and ≥ N."""
    if isinstance(secret, str):
        text = secret[2:] if secret[:2] in ("0x", "0X") else secret
        if len(text) != 64 or not text.isascii() or not all(c in "0123456789abcdefABCDEF" for c in text):
            raise InputError(field, "must be 32 bytes of hex (a secp256k1 private key)")
        secret = bytes.fromhex(text)
    elif isinstance(secret, int) and not isinstance(secret, bool):
        if not 0 <= secret < 2**256:
            raise InputError(field, "a secp256k1 private key is an integer in [1, n)")
        secret = secret.to_bytes(32, "big")
    if not isinstance(secret, bytes) or len(secret) != 32:
        raise InputError(field, "a secp256k1 private key is 32 bytes")
    if not 0 < int.from_bytes(secret, "big") < N:
        raise InputError(field, "a secp256k1 private key is in [1, n)")
    return secret


def public_key_address(public_key: coincurve.PublicKey) -> str:
    """The lower-case address of a public key."""
    return "0x" + keccak(public_key.format(compressed=False)[1:])[12:].hex()


def address_of(key: bytes) -> str:
    """The lower-case address of a 32-byte private key."""
    return public_key_address(coincurve.PrivateKey(key).public_key)


@functools.lru_cache(maxsize=64)
def _signer(key: bytes) -> coincurve.PrivateKey:
    """A key object made once per key: making one derives the public key (a scalar
    multiplication), and a committee server signs a receipt for every bid."""
    return coincurve.PrivateKey(key)


def sign(digest: bytes, key: bytes) -> bytes:
    """``r ‖ s ‖ v`` (v = 27/28) over a 32-byte digest; deterministic, low s."""
    raw = _signer(key).sign_recoverable(digest, hasher=None)
    return raw[:64] + bytes((raw[64] + 27,))


def split(signature: bytes, field: str = "signature") -> tuple[int, int, int]:
    """(y_parity, r, s) of a 65-byte signature, v in {0, 1, 27, 28}."""
    if len(signature) != 65:
        raise BadSignature(field, f"a signature has 65 bytes, got {len(signature)}")
    v = signature[64]
    if v not in (0, 1, 27, 28):
        raise BadSignature(field, f"recovery id v must be 0, 1, 27 or 28, got {v}")
    return v % 27, int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")


def recover(digest: bytes, signature: bytes, field: str = "signature") -> str:
    """The lower-case address whose key made ``signature`` over ``digest``."""
    y, r, s = split(signature, field)
    return recover_parts(digest, y, r, s, field)


def recover_parts(digest: bytes, y_parity: int, r: int, s: int, field: str = "signature") -> str:
    """:func:`recover` for a signature given as its parts (as transactions carry it)."""
    if not 0 < r < N:
        raise BadSignature(f"{field}.r", "out of range (must be in 1..n-1)")
    if not 0 < s <= HALF_N:
        raise BadSignature(
            f"{field}.s",
            "must be non-zero and in the lower half of the curve order (EIP-2: the high-s twin is malleable)",
        )
    if y_parity not in (0, 1):
        raise BadSignature(f"{field}.yParity", f"must be 0 or 1, got {y_parity}")
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,))
    try:
        public = coincurve.PublicKey.from_signature_and_message(raw, digest, hasher=None)
    except Exception:  # coincurve raises a bare Exception for a point that is not on the curve
        raise BadSignature(field, "does not recover to a public key") from None
    return public_key_address(public)
