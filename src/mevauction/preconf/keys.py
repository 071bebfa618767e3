"""The keys mev-commit nodes sign with: secp256k1 over raw digests, v = 27/28.

mev-commit signs the 32-byte typed-data digest itself (no "Ethereum Signed Message"
prefix) and ships signatures as ``r || s || v`` with v moved from 0/1 to 27/28
(``transformSignatureVValue`` in the encryptor); verifiers accept either form
(``eipVerify``) — exactly :mod:`mevauction.eth.secp256k1`'s rules. mev-commit writes
addresses in their EIP-55 checksummed form, so this module's addresses are checksummed.
"""

from __future__ import annotations

from mevauction.eth import secp256k1
from mevauction.eth.fields import checksum
from mevauction.eth.keccak import keccak
from mevauction.eth.secp256k1 import BadSignature

__all__ = ["BadSignature", "Signer", "recover_signer"]


class Signer:
    """A secp256k1 private key that signs digests the way mev-commit nodes do."""

    __slots__ = ("_key", "address")

    def __init__(self, secret: bytes | int | str, field: str = "private_key"):
        self._key = secp256k1.private_key(secret, field)
        self.address = checksum(secp256k1.address_of(self._key))

    @classmethod
    def from_label(cls, label: str) -> Signer:
        """The key Foundry's ``makeAddrAndKey(label)`` uses: keccak256(label)."""
        return cls(keccak(label.encode()))

    def sign(self, digest: bytes) -> bytes:
        """65 bytes ``r || s || v`` with v in {27, 28}; RFC 6979 nonces, low s."""
        return secp256k1.sign(digest, self._key)


def recover_signer(digest: bytes, signature: bytes, field: str = "signature") -> str:
    """The checksummed address that produced ``signature`` over ``digest``."""
    return checksum(secp256k1.recover(digest, signature, field))
