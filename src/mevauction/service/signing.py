"""secp256k1 signatures as Ethereum tooling uses them.

- EIP-191 "personal_sign" (version 0x45): the signed digest is
  keccak256("\\x19Ethereum Signed Message:\\n" ‖ len(message) ‖ message).
- Flashbots request authentication: the header ``X-Flashbots-Signature:
  <address>:<signature>`` carries a personal_sign signature over the text of
  keccak256(body) in hex. The Flashbots relay hashes the ``0x``-prefixed hex; some
  clients (``flashbots`` on hexbytes ≥ 1) sign it without the prefix. Both spell the
  same body hash, so both are accepted; nothing else is.
- Addresses are the last 20 bytes of keccak256 of the uncompressed public key.
"""

from __future__ import annotations

import coincurve
from mevauction.keccak import keccak

from mevauction.errors import InputError

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def personal_message_hash(message: bytes) -> bytes:
    """EIP-191 version 0x45 digest of ``message``."""
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def address_of(public_key: coincurve.PublicKey) -> str:
    """Lower-case 0x address of a public key."""
    return "0x" + keccak(public_key.format(compressed=False)[1:])[-20:].hex()


def recover(digest: bytes, signature: bytes) -> str:
    """The address whose key made ``signature`` (r ‖ s ‖ v, v in {0,1,27,28}) over ``digest``."""
    if len(signature) != 65:
        raise InputError("signature", f"must be 65 bytes, got {len(signature)}")
    v = signature[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1):
        raise InputError("signature", f"bad recovery id {signature[64]}")
    s = int.from_bytes(signature[32:64], "big")
    # Low-s only (EIP-2): the high-s twin of a signature must not count as a new one.
    if not 0 < s <= SECP256K1_N // 2:
        raise InputError("signature", "s is not in the lower half of the curve order")
    try:
        key = coincurve.PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
    except Exception:  # coincurve raises plain Exception for unrecoverable points
        raise InputError("signature", "does not recover to a public key") from None
    return address_of(key)


def sign(digest: bytes, private_key: bytes) -> bytes:
    """r ‖ s ‖ v (v = 27/28) over a 32-byte digest."""
    raw = coincurve.PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    return raw[:64] + bytes([raw[64] + 27])


def parse_hex(text: object, field: str, length: int | None = None) -> bytes:
    """Bytes from a hex string (with or without 0x), naming ``field`` when it is not."""
    if not isinstance(text, str):
        raise InputError(field, f"must be a hex string, got {type(text).__name__}")
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) % 2:
        raise InputError(field, "hex string has an odd number of digits")
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        raise InputError(field, "not a hex string") from None
    if length is not None and len(data) != length:
        raise InputError(field, f"must be {length} bytes, got {len(data)}")
    return data


def flashbots_signature_header(body: bytes, private_key: bytes) -> str:
    """The ``X-Flashbots-Signature`` value for ``body`` signed with ``private_key``."""
    text = ("0x" + keccak(body).hex()).encode()
    signature = sign(personal_message_hash(text), private_key)
    address = address_of(coincurve.PrivateKey(private_key).public_key)
    return f"{address}:0x{signature.hex()}"


def verify_flashbots_signature(body: bytes, header: str | None) -> str:
    """The signer's lower-case address if ``header`` signs ``body``; InputError otherwise."""
    field = "X-Flashbots-Signature"
    if not header:
        raise InputError(field, "missing header: requests must be signed (address:signature)")
    address, sep, sig_text = header.partition(":")
    if not sep:
        raise InputError(field, "must be <address>:<signature>")
    claimed = "0x" + parse_hex(address, f"{field}.address", 20).hex()
    signature = parse_hex(sig_text, f"{field}.signature", 65)
    body_hash = keccak(body).hex()
    for text in ("0x" + body_hash, body_hash):
        try:
            signer = recover(personal_message_hash(text.encode()), signature)
        except InputError as exc:
            raise InputError(field, exc.message) from None
        if signer == claimed:
            return signer
    raise InputError(field, "signature does not match the address and the body hash")
