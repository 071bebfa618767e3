"""Signed messages: EIP-191 personal messages and Flashbots request signatures.

- EIP-191 "personal_sign" (version 0x45): the signed digest is
  keccak256("\\x19Ethereum Signed Message:\\n" ‖ len(message) ‖ message).
- Flashbots request authentication: the header ``X-Flashbots-Signature:
  <address>:<signature>`` carries a personal_sign signature over the text of
  keccak256(body) in hex. The Flashbots relay hashes the ``0x``-prefixed hex; some
  clients (``flashbots`` on hexbytes ≥ 1) sign it without the prefix. Both spell the
  same body hash, so both are accepted; nothing else is.
"""

from __future__ import annotations

from mevauction.eth import fields, secp256k1
from mevauction.eth.errors import InputError
from mevauction.eth.keccak import keccak

FLASHBOTS_HEADER = "X-Flashbots-Signature"


def personal_message_hash(message: bytes) -> bytes:
    """EIP-191 version 0x45 digest of ``message``."""
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def flashbots_header(body: bytes, key: bytes) -> str:
    """The ``X-Flashbots-Signature`` value for ``body`` signed with ``key``."""
    text = ("0x" + keccak(body).hex()).encode()
    signature = secp256k1.sign(personal_message_hash(text), key)
    return f"{secp256k1.address_of(key)}:0x{signature.hex()}"


def verify_flashbots_header(body: bytes, header: str | None) -> str:
    """The signer's lower-case address if ``header`` signs ``body``; InputError otherwise."""
    field = FLASHBOTS_HEADER
    if not header:
        raise InputError(field, "missing header: requests must be signed (address:signature)")
    address, sep, sig_text = header.partition(":")
    if not sep:
        raise InputError(field, "must be <address>:<signature>")
    claimed = fields.address(address, f"{field}.address")
    # Python's flashbots client writes the signature without 0x (hexbytes >= 1).
    signature = fields.data(sig_text, f"{field}.signature", length=65, prefix=False)
    body_hash = keccak(body).hex()
    for text in ("0x" + body_hash, body_hash):
        try:
            signer = secp256k1.recover(personal_message_hash(text.encode()), signature)
        except InputError as exc:
            raise InputError(field, exc.message) from None
        if signer == claimed:
            return signer
    raise InputError(field, "signature does not match the address and the body hash")
