"""secp256k1 keys, signatures over raw digests with v = 27/28, signer recovery.

mev-commit signs the 32-byte typed-data digest itself (no "Ethereum Signed Message"
prefix) and ships signatures as ``r || s || v`` with v moved from 0/1 to 27/28
(``transformSignatureVValue`` in the encryptor); verifiers accept either form
(``eipVerify``). Addresses are the last 20 bytes of keccak256 of the uncompressed
public key, as everywhere in Ethereum.
"""

from __future__ import annotations

import coincurve

from mevauction.preconf.hashing import keccak256

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class BadSignature(ValueError):
    """A signature that does not parse or does not recover to a public key."""


def checksum_address(raw: bytes) -> str:
    """EIP-55 mixed-case form of a 20-byte address."""
    hex_addr = raw.hex()
    digest = keccak256(hex_addr.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(hex_addr))


def address_of(public_key: coincurve.PublicKey) -> str:
    return checksum_address(keccak256(public_key.format(compressed=False)[1:])[12:])


class Signer:
    """A secp256k1 private key that signs digests the way mev-commit nodes do."""

    __slots__ = ("_key", "address")

    def __init__(self, secret: bytes | int | str):
        if isinstance(secret, str):
            secret = bytes.fromhex(secret[2:] if secret[:2].lower() == "0x" else secret)
        if isinstance(secret, int):
            secret = secret.to_bytes(32, "big")
        if len(secret) != 32 or not 0 < int.from_bytes(secret, "big") < SECP256K1_N:
            raise ValueError("a secp256k1 private key is 32 bytes in [1, n)")
        self._key = coincurve.PrivateKey(secret)
        self.address = address_of(self._key.public_key)

    @classmethod
    def from_label(cls, label: str) -> "Signer":
        """The key Foundry's ``makeAddrAndKey(label)`` uses: keccak256(label)."""
        return cls(keccak256(label.encode()))

    def sign(self, digest: bytes) -> bytes:
        """65 bytes ``r || s || v`` with v in {27, 28}; RFC 6979 nonces, low s."""
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes((sig[64] + 27,))


def recover_signer(digest: bytes, signature: bytes) -> str:
    """The checksummed address that produced ``signature`` over ``digest``.

    Accepts v in {0, 1, 27, 28} like mev-commit's ``eipVerify``; rejects high-s
    signatures (malleable copies) and anything that does not recover.
    """
    if len(signature) != 65:
        raise BadSignature(f"a signature has 65 bytes, got {len(signature)}")
    v = signature[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        raise BadSignature(f"recovery id v must be 0, 1, 27 or 28, got {signature[64]}")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < s <= SECP256K1_N // 2:
        raise BadSignature("s is zero or in the upper half of the curve order (malleable)")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(signature[:64] + bytes((v,)), digest, hasher=None)
    except Exception as exc:  # coincurve raises plain Exception subclasses on bad input
        raise BadSignature(f"signature does not recover: {exc}") from None
    return address_of(public_key)
