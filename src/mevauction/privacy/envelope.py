"""A bidder's share message encrypted to one committee member's long-term key (ECIES).

The bidder never talks to the committee itself: the service relays its sealed bid.
So each member's share message travels inside an envelope only that member can open:
an ephemeral secp256k1 key agrees a secret with the member's public key (ECDH,
``coincurve``), HKDF-SHA256 turns it into an AES-256 key, and AES-GCM (pycryptodome)
encrypts the message. The GCM tag authenticates ``context`` too — the signed bid
header's digest and the member's index — so a relay cannot move an envelope to another
bid or another member, and any changed byte makes the envelope fail to open.

Both libraries are already dependencies (coincurve for signatures, pycryptodome via
``eth-hash[pycryptodome]``), so sealing adds nothing to install on the builder side.
Layout: ephemeral public key (33 bytes, compressed) ‖ nonce (12) ‖ ciphertext ‖ tag (16).
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

import coincurve
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mevauction.eth import fields
from mevauction.privacy.messages import new_key

DOMAIN = b"mevauction.sealed.envelope/1"
PUBLIC_KEY_BYTES = 33
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_ENVELOPE_BYTES = 64 * 1024  # a 128-bit bid's share message is ~6 KB


class EnvelopeError(ValueError):
    """An envelope that is malformed, not for this key, or altered."""


def public_key(private_key: bytes) -> str:
    """The compressed public key a member publishes, as 0x-hex (33 bytes)."""
    return "0x" + coincurve.PrivateKey(private_key).public_key.format(compressed=True).hex()


def parse_public_key(text: str, field: str) -> bytes:
    raw = fields.data(text, field, length=PUBLIC_KEY_BYTES)
    try:
        coincurve.PublicKey(raw)
    except Exception:  # coincurve raises a bare Exception for a point not on the curve
        raise EnvelopeError(f"{field}: not a secp256k1 public key") from None
    return raw


def _aes_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=DOMAIN).derive(shared)


@functools.lru_cache(maxsize=16)
def _member(private_key: bytes) -> tuple[coincurve.PrivateKey, bytes]:
    """A member's key object and compressed public key: made once, not per envelope (each
    costs a scalar multiplication, and a server opens one envelope per bid)."""
    me = coincurve.PrivateKey(private_key)
    return me, me.public_key.format(compressed=True)


def encrypt(recipient: str, plaintext: bytes, context: bytes) -> str:
    """Seal ``plaintext`` for the holder of ``recipient`` (a compressed public key, 0x-hex)."""
    to = parse_public_key(recipient, "recipient")
    ephemeral = coincurve.PrivateKey()
    eph_pub = ephemeral.public_key.format(compressed=True)
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(_aes_key(ephemeral.ecdh(to), eph_pub, to)).encrypt(nonce, plaintext, context)
    return "0x" + (eph_pub + nonce + sealed).hex()  # sealed = ciphertext ‖ 16-byte tag


def decrypt(private_key: bytes, envelope: object, context: bytes) -> bytes:
    """Open an envelope sealed for ``private_key``; EnvelopeError if it is not, or was altered."""
    if not isinstance(envelope, str) or len(envelope) > 2 * MAX_ENVELOPE_BYTES + 2:
        raise EnvelopeError("the envelope must be a hex string of at most 64 KiB")
    try:
        raw = bytes.fromhex(envelope.removeprefix("0x"))
    except ValueError:
        raise EnvelopeError("the envelope is not hex") from None
    if len(raw) < PUBLIC_KEY_BYTES + NONCE_BYTES + TAG_BYTES:
        raise EnvelopeError("the envelope is too short")
    eph_pub, nonce = raw[:PUBLIC_KEY_BYTES], raw[PUBLIC_KEY_BYTES:PUBLIC_KEY_BYTES + NONCE_BYTES]
    body, tag = raw[PUBLIC_KEY_BYTES + NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]
    me, mine = _member(private_key)
    try:
        shared = me.ecdh(eph_pub)
    except Exception:  # not a point on the curve
        raise EnvelopeError("the envelope's ephemeral key is not a secp256k1 point") from None
    try:
        return AESGCM(_aes_key(shared, eph_pub, mine)).decrypt(nonce, body + tag, context)
    except InvalidTag:
        raise EnvelopeError("the envelope does not open with this member's key (altered or not for it)") from None


def load_or_create_key(path: Path) -> bytes:
    """A member's long-term encryption key, kept in ``path`` (created 0600 on first start).

    The key stays the same across restarts, so bids sealed to the published key before a
    restart still open after it.
    """
    if path.exists():
        key = fields.data(path.read_text().strip(), str(path), length=32)
    else:
        key = new_key()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        try:
            os.write(fd, ("0x" + key.hex() + "\n").encode())
        finally:
            os.close(fd)
    path.with_name(path.name + ".pub").write_text(public_key(key) + "\n")  # what the committee publishes
    return key
