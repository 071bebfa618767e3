"""The service's builder auction on the two-party backend (``serve --sealed --backend 2pc``).

The same flow as the committee's (``builder_auction``: builders seal, the service relays),
with the pair instead of three servers. A builder XOR-splits its bid at 128 bits
(``seal_pair_builder_bid``: a mask for the garbler, bid ⊕ mask for the evaluator), signs a
header that commits to the bid and to each share, and seals each share in an envelope
only that party opens (``envelope``, bound to the header digest and the party's role).
The service keeps header and envelopes; at the deadline it opens the slot's auction at
both parties (``admit``: only the headers it forwards; ``caps``: each builder's free
deposit, enforced in the circuit), relays the envelopes on its authenticated control
links, and closes with β0 XOR-split between the two (``relay_pair_auction``). Each party
opens its own envelope and checks the share against the builder-signed header, so the
service cannot substitute an amount; it holds β0 and, afterwards, the price only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mevauction.errors import InputError, require
from mevauction.privacy import envelope, messages
from mevauction.privacy.builder_auction import BUILDER_BITS, RelayOutcome, SealedSlot, check_amounts
from mevauction.privacy.client import SealedBid
from mevauction.privacy.twoparty import party, submit
from mevauction.privacy.twoparty.link import AUCTIONEER, EVALUATOR, GARBLER, NAMES, Channel

TIMEOUT_S = 15.0  # every wait on a party: a stopped party fails the slot's attempt, never stalls it


@dataclass(frozen=True)
class PairSlot:
    """One slot's builder auction as the service hands it to the pair: where the parties'
    control ports are (with the auctioneer's TLS identity in ``tls_dir``), the slot's
    auction id, the parties' pinned encryption keys and signing addresses (garbler
    first), each builder's stored sealed bid and cap, and the seal secret the sealed
    algorithms' keys derive from (as ``SealedSlot``)."""

    tls_dir: str
    control: list[tuple[str, int]]
    auction: str
    members: list[str]
    signers: list[str]
    bids: dict[str, dict[str, Any]] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)
    seal_secret: bytes = b""
    timeout: float = TIMEOUT_S


Slot = SealedSlot | PairSlot  # what a sealed settlement runs its builders' auction on


def seal_pair_builder_bid(info: dict[str, Any], key: bytes, amount: int,
                          pinned: list[str] | None = None) -> dict[str, Any]:
    """A builder's sealed bid for the slot that ``info`` (``mev_getCommittee``, backend 2pc)
    describes: {header, ciphertexts}, one envelope per party, as the committee's."""
    check_amounts(0, [("amount", amount)], BUILDER_BITS)
    members = [str(m) for m in info.get("members", [])]
    require(len(members) == 2 and isinstance(info.get("auction"), str), "committee",
            "needs the slot's auction id and the two parties' keys")
    if pinned is not None and [k.lower() for k in pinned] != [k.lower() for k in members]:
        raise InputError("committee.members", "the service names other party keys than the pinned ones")
    sealed = submit.seal(info["auction"], SealedBid(messages.address(key), [amount], key=key),
                         width=BUILDER_BITS, side="builder")
    digest = sealed.header.digest()
    ciphertexts = [envelope.encrypt(members[role], messages.canonical(
        {"shares": [p["share"]], "nonce": p["nonce"], "bind": p["bind"]}), digest + bytes([role]))
        for role, p in enumerate(sealed.payloads)]
    return {"header": sealed.header.to_json(), "ciphertexts": ciphertexts}


def connect(slot: PairSlot) -> list[Channel]:
    """The auctioneer's links to both parties, each pinned to its role's certificate."""
    chans: list[Channel] = []
    try:
        for (host, port), role in zip(slot.control, (GARBLER, EVALUATOR), strict=True):
            c = party.connect(slot.tls_dir, AUCTIONEER, host, port, expect=role, timeout=slot.timeout)
            c.sock.settimeout(slot.timeout)
            chans.append(c)
    except BaseException:
        for c in chans:
            c.close()
        raise
    return chans


def info(chans: list[Channel]) -> list[dict[str, Any]]:
    """Each party's signing address and encryption key (what the service pins)."""
    for c in chans:
        c.send_json({"op": "info"})
    replies = [c.recv_json() for c in chans]
    for role, r in enumerate(replies):
        if r.get("status") != "info" or r.get("role") != role or not r.get("encryption_key"):
            raise ConnectionError(f"the {NAMES[role]} did not describe itself: {r.get('reason', r)}")
    return replies


def relay_pair_auction(slot: PairSlot, reserve: int, builders: list[str]) -> RelayOutcome:
    """Open the slot's auction at both parties, relay the sealed bids of ``builders`` (in this
    order: ties go to the earliest), close with β0, and accept the outcome only if both
    parties report it, each signed by its pinned key. A bid a party refuses, or that
    reached one party only, is left out with its reason; the auction goes on without it."""
    check_amounts(reserve, [], BUILDER_BITS)
    forwarded = [b for b in builders if b in slot.bids]
    headers = {b: messages.BidHeader.from_json(slot.bids[b]["header"]) for b in forwarded}
    builder_of = {headers[b].bidder.lower(): b for b in forwarded}
    spec: dict[str, Any] = {"auction": slot.auction, "mechanism": "builder", "max_bids": len(forwarded), "k": 1,
                            "bits": BUILDER_BITS, "admit": ["0x" + headers[b].digest().hex() for b in forwarded]}
    if slot.caps:
        spec["caps"] = {headers[b].bidder: str(cap) for b, cap in slot.caps.items() if b in headers}
    chans = connect(slot)
    try:
        described = info(chans)
        if [str(d["encryption_key"]).lower() for d in described] != [m.lower() for m in slot.members] or \
                [str(d["signer"]).lower() for d in described] != [s.lower() for s in slot.signers]:
            raise RuntimeError("the parties' keys are not the pinned ones")
        submit.open_auction(chans, spec)
        for role, c in enumerate(chans):
            c.send_json({"op": "bids", "bids": [{"op": "bid", "header": slot.bids[b]["header"],
                                                 "ciphertext": slot.bids[b]["ciphertexts"][role]} for b in forwarded]})
        refused: dict[str, str] = {}
        for role, c in enumerate(chans):
            reply = c.recv_json()
            if reply.get("status") != "ok":
                raise ConnectionError(f"the {NAMES[role]} took no bids: {reply.get('reason')}")
            for b, r in zip(forwarded, reply["replies"], strict=True):
                if not r.get("ok"):
                    refused.setdefault(b, f"{NAMES[role]}: {r.get('reason')}")
        if len(refused) == len(forwarded):  # nothing reached both: the default block at β0
            return RelayOutcome(None, reserve, refused)
        result = submit.close_auction(chans, spec, reserve)
    finally:
        for c in chans:
            c.close()
    if not result.ok:
        raise RuntimeError(f"2PC builder auction aborted: {result.reason}")
    check_statements(result.statements, slot.signers, slot.auction)
    for label in set(builder_of) - {b.lower() for b in result.bidders}:
        refused.setdefault(builder_of[label], "left out: it reached one party only")
    if result.winner is None:
        return RelayOutcome(None, int(result.price or 0), refused)
    label = result.bidders[result.winner].lower()
    if label not in builder_of:
        raise RuntimeError(f"the parties named {label!r}, a bidder the service did not forward")
    return RelayOutcome(builder_of[label], int(result.price or 0), refused)


def check_statements(statements: list[dict[str, Any]], signers: list[str], auction: str) -> None:
    """Both parties signed this auction's outcome with their pinned keys."""
    if len(statements) != 2:
        raise RuntimeError("the parties did not both sign the outcome")
    for role, st in enumerate(statements):
        body = {k: v for k, v in st.items() if k != "signature"}
        signer = messages.recover(messages.statement_digest(body), str(st.get("signature", "")))
        if signer is None or signer != signers[role].lower() or st.get("auction") != auction:
            raise RuntimeError(f"the {NAMES[role]}'s statement is not signed by its pinned key for this auction")

