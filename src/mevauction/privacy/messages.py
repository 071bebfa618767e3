"""Signed bid headers, hash commitments and share commitments.

A bidder publishes, before the deadline, a *header* that every server receives
identically: the auction id, its label, the address of its secp256k1 key, the hash
commitment C = keccak(domain ‖ auction ‖ bidder ‖ values ‖ salt) to its secret values,
and one salted hash per share h_i = keccak(domain ‖ auction ‖ bidder ‖ i ‖ share_i ‖
nonce_i). It signs the header digest. Server i additionally receives share_i and
nonce_i, which only it can check against h_i. The salt keeps a low-entropy bid from
being found by hashing guesses; the nonces do the same for the shares.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from mevauction.errors import InputError
from mevauction.eth import fields, secp256k1
from mevauction.eth.keccak import keccak

COMMIT_DOMAIN = b"mevauction.sealed.commit/1"
SHARE_DOMAIN = b"mevauction.sealed.share/1"
HEADER_DOMAIN = b"mevauction.sealed.header/1"
STATEMENT_DOMAIN = b"mevauction.sealed.statement/1"
CONTROL_DOMAIN = b"mevauction.sealed.control/1"
RECEIPT_DOMAIN = b"mevauction.sealed.receipt/1"
CONTROL_WINDOW_MS = 60_000  # a signed control request is valid this long either side of its time


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def commitment(auction: str, bidder: str, values: list[int], salt: bytes) -> str:
    """Hash commitment to a bidder's secret values (one for a bid, a vector for a curve)."""
    payload = COMMIT_DOMAIN + auction.encode() + b"\0" + bidder.encode() + b"\0"
    payload += b"".join(_word(v) for v in values) + salt
    return "0x" + keccak(payload).hex()


def share_hash(auction: str, bidder: str, index: int, shares: list[int], nonce: bytes) -> str:
    """Salted hash of the shares server ``index`` receives from ``bidder``."""
    payload = SHARE_DOMAIN + auction.encode() + b"\0" + bidder.encode() + b"\0" + bytes([index])
    payload += b"".join([s.to_bytes(32, "big") for s in shares]) + nonce  # _word, inlined: 66 a bid
    return "0x" + keccak(payload).hex()


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class BidHeader:
    """The public, signed part of a sealed bid (identical at every server)."""

    auction: str
    bidder: str
    signer: str
    side: str
    commitment: str
    share_hashes: tuple[str, ...]
    signature: str = ""

    def unsigned(self) -> dict[str, Any]:
        # Not dataclasses.asdict, which deep-copies: a server digests every bid it takes.
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "signature"}
        d["share_hashes"] = list(self.share_hashes)
        return d

    def digest(self) -> bytes:
        """keccak of the unsigned fields, made once per header object (frozen: its fields
        never change; a server needs it four times for each bid it takes)."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            cached = keccak(HEADER_DOMAIN + canonical(self.unsigned()))
            object.__setattr__(self, "_digest", cached)
        return cached  # type: ignore[no-any-return]

    def signed(self, key: bytes) -> BidHeader:
        """This header with its signature by ``key``."""
        return dataclasses.replace(self, signature=sign(self.digest(), key))

    def to_json(self) -> dict[str, Any]:
        return {**self.unsigned(), "signature": self.signature}

    @classmethod
    def from_json(cls, d: dict[str, Any], field: str = "header") -> BidHeader:
        try:
            return cls(auction=str(d["auction"]), bidder=str(d["bidder"]), signer=str(d["signer"]),
                       side=str(d.get("side", "")), commitment=str(d["commitment"]),
                       share_hashes=tuple(str(h) for h in d["share_hashes"]),
                       signature=str(d["signature"]))
        except (KeyError, TypeError) as exc:
            raise InputError(field, f"malformed bid header: {exc}") from None

    def signature_valid(self) -> bool:
        return recover(self.digest(), self.signature) == self.signer.lower()


def sign(digest: bytes, key: bytes) -> str:
    return "0x" + secp256k1.sign(digest, key).hex()


def recover(digest: bytes, signature: str) -> str | None:
    """Lower-case address that signed ``digest``, or None for a malformed signature."""
    try:
        return secp256k1.recover(digest, fields.data(signature, "signature", length=65))
    except InputError:
        return None


def new_key() -> bytes:
    return secp256k1.private_key(secrets.token_bytes(32))


def key_from_hex(text: str, field: str) -> bytes:
    return secp256k1.private_key(text, field)


def address(key: bytes) -> str:
    return secp256k1.address_of(key)


def statement_digest(statement: dict[str, Any]) -> bytes:
    """Digest a server signs over its result statement (all fields but the signature)."""
    body = {k: v for k, v in statement.items() if k != "signature"}
    return keccak(STATEMENT_DOMAIN + canonical(body))


def receipt_digest(auction: str, digest: str, index: int, published: list[int]) -> bytes:
    """Digest a server signs when it accepts a bid: the check values it will publish for it."""
    return keccak(RECEIPT_DOMAIN + canonical({"auction": auction, "digest": digest.lower(), "server": index,
                                              "published": [str(v) for v in published]}))


def control_digest(request: dict[str, Any], time_ms: int, nonce: str) -> bytes:
    """Digest the auctioneer signs over a control request (every field but ``auth``)."""
    body = {k: v for k, v in request.items() if k != "auth"}
    return keccak(CONTROL_DOMAIN + canonical({"request": body, "time": time_ms, "nonce": nonce}))


def sign_control(request: dict[str, Any], key: bytes) -> dict[str, Any]:
    """``request`` with an ``auth`` field: its time, a fresh nonce and the auctioneer's signature."""
    time_ms, nonce = int(time.time() * 1000), "0x" + secrets.token_hex(16)
    signature = sign(control_digest(request, time_ms, nonce), key)
    return {**request, "auth": {"time": time_ms, "nonce": nonce, "signature": signature}}


def control_signer(request: dict[str, Any]) -> tuple[str | None, str, int]:
    """(address that signed the control request or None, its nonce, its time in ms)."""
    auth = request.get("auth")
    if not isinstance(auth, dict) or not isinstance(auth.get("nonce"), str) or len(auth["nonce"]) > 66:
        return None, "", 0
    time_ms = auth.get("time")
    if isinstance(time_ms, bool) or not isinstance(time_ms, int):
        return None, "", 0
    signer = recover(control_digest(request, time_ms, auth["nonce"]), str(auth.get("signature", "")))
    return signer, auth["nonce"], time_ms


class ControlGate:
    """A server's check of control requests: signed by the pinned auctioneer's key
    (``controller``, an address), within ``CONTROL_WINDOW_MS`` of now, nonce never seen.
    Not thread-safe: callers serialise (the committee's event loop, a TFHE party's lock)."""

    def __init__(self, controller: str) -> None:
        self.controller = controller.lower()
        self.seen: dict[str, int] = {}  # nonce → time of the control requests accepted

    def refusal(self, request: dict[str, Any]) -> str | None:
        """Why ``request`` is refused (None: signed by the auctioneer, fresh, new)."""
        signer, nonce, time_ms = control_signer(request)
        if signer is None or signer != self.controller:
            return f"{request.get('op')} refused: not signed by the auctioneer's key"
        now = int(time.time() * 1000)
        if abs(now - time_ms) > CONTROL_WINDOW_MS:
            return f"{request.get('op')} refused: signed at a time too far from now"
        for seen, at in list(self.seen.items()):  # forget what can no longer be replayed
            if abs(now - at) > CONTROL_WINDOW_MS:
                del self.seen[seen]
        if nonce in self.seen:
            return f"{request.get('op')} refused: a replayed control request"
        self.seen[nonce] = time_ms
        return None


def is_address(label: str) -> bool:
    """Whether a bidder label is an Ethereum address (then only that key may bid under it)."""
    return len(label) == 42 and label[:2] == "0x" and all(c in "0123456789abcdefABCDEF" for c in label[2:])


def random_salt() -> bytes:
    return secrets.token_bytes(32)
