"""The Boost+ builders' auction computed by the committee (Boost+ paper Fig. 3 steps 3–4).

Same contract as ``mevauction.mechanism.auction.second_price_with_reserve``: the highest
builder bid β* wins if β0 < β* (ties go to the default block, returned as None with
price β0); the winner pays max(β0, β′), β′ the highest bid of the *other* builders;
ties between builders go to the earliest bid. Both the builders' bids and the reserve
β0 are secret-shared; only the winner and the price are opened.

Real builder bids and β0 pass 2^64 wei (≈ 18.4 ETH) in busy slots, so this auction runs
at a width of 128 bits: 2^128 wei ≈ 3.4·10^20 ETH, far above the ≈ 1.2·10^8 ETH in
existence (< 2^87 wei). Its field is the 128-bit width's (``field.modulus_for``), so
the comparisons stay exact with the same statistical security as at 64 bits. An amount
≥ 2^128 is refused with an ``InputError`` before anything is sent — never mis-awarded.

A builder listed more than once is collapsed to its highest bid, placed where that bid
first appears — exactly the clear function's view, which excludes every bid of the
winning builder from β′.

Two ways in. ``sealed_builder_auction`` seals every bid itself (the offline
``mevauction auction --sealed``: the caller holds the bids anyway). In the service
(``serve --sealed``) the builders seal their own bids (``seal_builder_bid``, called by
the SDK): the header, signed by the builder and labelled with its address, binds the
slot's auction id, the bid commitment and a hash of each server's shares; each server's
shares travel in an envelope only that server opens. The service checks the header
(``check_sealed_bid``), keeps header and envelopes, and at the deadline forwards them
with its own reserve β0 (``relay_builder_auction``): it never holds an amount but β0
and the price. A changed envelope does not open, a changed header fails the builder's
signature, so the service cannot substitute a bid — only drop it, which the builder
sees in the report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mevauction.errors import InputError, require
from mevauction.privacy import envelope, messages
from mevauction.privacy.client import (
    CommitteeAccess,
    Coordinator,
    RunResult,
    SealedBid,
    agreed_outcome,
    confirm_request,
    run_local,
    run_on,
    seal,
)

RESERVE_LABEL = "β0"
BUILDER_BITS = 128
MAX_SHARE_HASHES = 16  # committees are small; bounds what a sealed bid may carry


def collapse(bids: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    best: dict[str, tuple[int, int]] = {}
    for pos, (builder, bid) in enumerate(bids):
        if builder not in best or bid > best[builder][0]:
            best[builder] = (bid, pos)
    return [(b, v) for b, (v, _) in sorted(best.items(), key=lambda kv: kv[1][1])]


def check_amounts(reserve: int, bids: Sequence[tuple[str, int]], bits: int) -> None:
    """Every amount an integer in [0, 2^bits) wei, or an InputError naming it."""
    for name, amount in [("reserve", reserve)] + [(f"bids.{b}", v) for b, v in bids]:
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < 1 << bits:
            raise InputError(name, f"the sealed builder auction takes integers in [0, 2^{bits}) wei, got {amount!r}")


def sealed_bids(reserve: int, bids: Sequence[tuple[str, int]]) -> list[SealedBid]:
    """What goes to the committee: β0 first (as the reserve), then each builder's best bid."""
    sealed = [SealedBid(RESERVE_LABEL, [reserve], side="reserve")]
    return sealed + [SealedBid(str(b), [v], side="builder") for b, v in collapse(bids)]


def outcome(result: RunResult) -> tuple[str | None, int]:
    if result.outcome is None:  # not result.ok
        raise RuntimeError(f"sealed builder auction aborted: {result.reason}")
    excluded = result.rejected + result.statements[0].get("excluded", [])
    if excluded:
        raise RuntimeError(f"sealed builder auction refused bids: {excluded}")
    return result.outcome["winner"], int(result.outcome["price"])


def sealed_builder_auction(reserve: int, bids: list[tuple[str, int]], parties: int = 3,
                           bits: int = BUILDER_BITS,
                           committee: CommitteeAccess | None = None) -> tuple[str | None, int]:
    """(winning builder id or None for the default block, price), via the committee.

    ``committee``: a running committee; by default a local committee of ``parties``
    servers is started for this one auction and stopped after it.
    """
    check_amounts(reserve, bids, bits)
    sealed = sealed_bids(reserve, bids)
    if committee is not None:
        result = asyncio.run(run_on(committee, "builder", sealed, max_bids=len(sealed), bits=bits))
    else:
        result = run_local("builder", sealed, parties=parties, max_bids=len(sealed), bits=bits)
    return outcome(result)


# -- builders seal, the service relays ---------------------------------------------------

def seal_builder_bid(committee: dict[str, Any], key: bytes, amount: int,
                     pinned: list[str] | None = None) -> dict[str, Any]:
    """A builder's sealed bid for the slot that ``committee`` (``mev_getCommittee``) describes.

    Labelled with the builder's address, signed with its key, shared as 128 bits, each
    server's shares sealed to its key. ``pinned``: the server keys the builder trusts
    (from the committee operators); a different key set is refused before anything leaves.
    """
    check_amounts(0, [("amount", amount)], BUILDER_BITS)
    members = [str(m) for m in committee.get("members", [])]
    require(len(members) >= 1 and isinstance(committee.get("auction"), str), "committee",
            "needs the slot's auction id and the servers' keys")
    if pinned is not None and [k.lower() for k in pinned] != [k.lower() for k in members]:
        raise InputError("committee.members", "the service names other committee keys than the pinned ones")
    me = messages.address(key)
    sealed = seal(committee["auction"], SealedBid(me, [amount], side="builder", key=key), len(members),
                  width=BUILDER_BITS, recipients=members)
    return {"header": sealed.header.to_json(), "ciphertexts": [p["ciphertext"] for p in sealed.payloads]}


def check_sealed_bid(sealed: object, signer: str, auction: str, parties: int) -> dict[str, Any]:
    """What the service stores of a sealed bid: its header and envelopes, checked for form.

    The header must be signed by the request's signer, labelled with that address, for
    this slot's auction, with one share hash and one envelope per server. The service
    cannot check the envelopes; the servers do.
    """
    require(isinstance(sealed, dict) and set(sealed) == {"header", "ciphertexts"}, "sealedBid",
            "must be an object with exactly 'header' and 'ciphertexts'")
    assert isinstance(sealed, dict)
    raw = sealed["header"]
    require(isinstance(raw, dict) and isinstance(raw.get("share_hashes"), list)
            and len(raw["share_hashes"]) <= MAX_SHARE_HASHES, "sealedBid.header", "malformed header")
    header = messages.BidHeader.from_json(raw, "sealedBid.header")
    require(header.auction == auction, "sealedBid.header.auction",
            f"is not this slot's auction {auction!r} (ask mev_getCommittee)")
    require(header.side == "builder", "sealedBid.header.side", "must be 'builder'")
    require(header.bidder.lower() == signer.lower() == header.signer.lower(), "sealedBid.header.bidder",
            "must be the address of the key that signs the request")
    require(header.signature_valid(), "sealedBid.header.signature", "does not match the signer")
    require(len(header.share_hashes) == parties, "sealedBid.header.share_hashes", f"must have {parties} entries")
    ciphertexts = sealed["ciphertexts"]
    require(isinstance(ciphertexts, list) and len(ciphertexts) == parties
            and all(isinstance(c, str) and len(c) <= 2 * envelope.MAX_ENVELOPE_BYTES + 2 for c in ciphertexts),
            "sealedBid.ciphertexts", f"must be {parties} hex strings of at most 64 KiB")
    return {"header": header.to_json(), "ciphertexts": list(ciphertexts)}


@dataclass(frozen=True)
class SealedSlot:
    """One slot's builder auction as the service hands it to the committee: the committee
    (with the service's control key), the slot's auction id, the servers' pinned keys,
    each builder's stored sealed bid (header + envelopes) and, optionally, each builder's
    cap — the largest bid it can pay (its free deposit), enforced inside the MPC."""

    access: CommitteeAccess
    auction: str
    members: list[str]
    bids: dict[str, dict[str, Any]] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)
    # The service's persistent secret its sealed-algorithm keys derive from (empty: fresh keys).
    seal_secret: bytes = b""


@dataclass
class RelayOutcome:
    winner: str | None
    price: int
    refused: dict[str, str]  # builder → why the committee did not admit its bid


async def relay_builder_auction(slot: SealedSlot, reserve: int, builders: list[str]) -> RelayOutcome:
    """Open the slot's auction, submit β0 (signed by the service) and forward the sealed
    bids of ``builders`` (in this order: ties go to the earliest), close, agree.

    A bid the servers refuse is left out with its reason; the auction goes on without it.
    """
    check_amounts(reserve, [], BUILDER_BITS)
    forwarded = [b for b in builders if b in slot.bids]
    spec = {"auction": slot.auction, "mechanism": "builder", "max_bids": 1 + len(forwarded),
            "k": 1, "grid": [], "bits": BUILDER_BITS, "address_labels": True}
    # The committee knows a bid by its header's label: the builder's address, or (a submitted
    # algorithm's bid, sealed in its jail) the address of the one-run key that signed it.
    labels = {b: str(slot.bids[b]["header"]["bidder"]) for b in forwarded}
    builder_of = {label.lower(): b for b, label in labels.items()}
    if slot.caps:
        spec["caps"] = {labels[b]: str(cap) for b, cap in slot.caps.items() if b in forwarded}
    parties = len(slot.access.intake)
    async with Coordinator(slot.access) as co:
        keys = [str(i["encryption_key"]) for i in await co.info()]
        if [k.lower() for k in keys] != [k.lower() for k in slot.members]:
            raise RuntimeError("the committee's encryption keys are not the pinned ones")
        beta0 = seal(slot.auction, SealedBid(RESERVE_LABEL, [reserve], side="reserve", key=slot.access.control_key),
                     parties, width=BUILDER_BITS, recipients=keys)
        # Only what the service forwards is admitted: nobody bids around it to the servers.
        spec["admit"] = ["0x" + beta0.header.digest().hex()] + [
            "0x" + messages.BidHeader.from_json(slot.bids[b]["header"]).digest().hex() for b in forwarded]
        await co.open(spec)
        relayed = [[{"op": "bid", "header": slot.bids[b]["header"], "ciphertext": slot.bids[b]["ciphertexts"][j]}
                    for j in range(parties)] for b in forwarded]
        replies = await co.each([[beta0.payloads[j]] + [r[j] for r in relayed] for j in range(parties)])
        refused: dict[str, str] = {}
        for j, per_server in enumerate(replies):
            if isinstance(per_server, Exception):
                raise ConnectionError(f"server {j} unreachable: {per_server}")
            if not per_server[0].get("ok"):
                raise RuntimeError(f"server {j} refused the reserve: {per_server[0].get('reason')}")
            for b, r in zip(forwarded, per_server[1:], strict=True):
                if not r.get("ok"):
                    refused.setdefault(b, f"server {j}: {r.get('reason')}")
        # Every server's receipts of each bid taken everywhere, forwarded to all: a server
        # that then leaves a bid out or changes its check values is named at agreement.
        taken = [r for r in replies if not isinstance(r, Exception)]  # all of them: checked above
        digests = ["0x" + beta0.header.digest().hex()] + [
            "0x" + messages.BidHeader.from_json(slot.bids[b]["header"]).digest().hex() for b in forwarded]
        confirms = [[confirm_request(slot.auction, d, [per_server[i] for per_server in taken])
                     for i, d in enumerate(digests) if all(per_server[i].get("ok") for per_server in taken)]
                    for _ in range(parties)]
        await co.each(confirms)
        await co.wait_ready(slot.auction)
        statements, _ = await co.close(slot.auction)
    result, reason = agreed_outcome(statements)
    if result is None:
        raise RuntimeError(f"sealed builder auction aborted: {reason}")
    first = statements[0]
    assert isinstance(first, dict)  # agreed_outcome: every statement is a signed dict
    for x in first.get("excluded", []):
        refused.setdefault(builder_of.get(str(x["bidder"]).lower(), str(x["bidder"])), str(x["reason"]))
    winner = result["winner"]
    if winner is not None and str(winner).lower() not in builder_of:
        raise RuntimeError(f"the committee named {winner!r}, a bidder the service did not forward")
    return RelayOutcome(None if winner is None else builder_of[str(winner).lower()], int(result["price"]), refused)
