"""The bidder's side, with no coordinator in between: seal, submit, check, confirm.

``submit_bid`` shares and commits a bid on the bidder's machine, sends server j its
share message over TLS straight to server j (sealed to j's encryption key as well), and
checks each server's signed receipt against the check values its own shares give
(``field.bit_checks``). A server that signs other values is trying to have the bid
excluded as "inconsistent": the result names it, and the receipt plus that one server's
share message (which reveals nothing alone) prove it. Otherwise the receipts go to every
server, which then hold each other to them at agreement. The auctioneer only opens and
closes (``open_auction``, ``close_auction``): it never sees a share or an amount.

The opening (values, salt, shares, nonces) stays with the bidder; it publishes it only
if it wins, so the transcript can show its bid matches the price.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mevauction.privacy.client import CommitteeAccess, Coordinator, RunResult, SealedBid, agreed_outcome, key_set, seal
from mevauction.privacy.field import DEFAULT_BITS


@dataclass
class Submission:
    """What one bidder got back: accepted everywhere or why not, and any server it caught."""

    auction: str
    digest: str
    header: dict[str, Any]
    opening: dict[str, Any]
    refused: list[str] = field(default_factory=list)  # per server that refused, its reason
    complaints: list[str] = field(default_factory=list)  # servers caught signing wrong check values
    receipts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.complaints


def bidder_access(intake: list[tuple[str, int]], tls_dir: str | None) -> CommitteeAccess:
    """A connection to the servers without the auctioneer's key (a bidder cannot sign controls)."""
    return CommitteeAccess(intake, b"", tls_dir)


async def submit_bid(access: CommitteeAccess, auction: str, bid: SealedBid, *, width: int = DEFAULT_BITS,
                     bit_shared: bool = True) -> Submission:
    async with Coordinator(access) as co:
        recipients = [str(i["encryption_key"]) for i in await co.info()]
        sealed = seal(auction, bid, len(access.intake), bits=bit_shared, width=width, recipients=recipients)
        (reason,) = await co.submit([sealed])
        complaints = await co.confirm([sealed]) if reason is None else []
        return Submission(auction, sealed.digest, sealed.header.to_json(), sealed.opening,
                          [reason] if reason else [], complaints, co.receipts.get(sealed.digest, []))


async def open_auction(access: CommitteeAccess, spec: dict[str, Any]) -> None:
    async with Coordinator(access) as co:
        await co.open(spec)


async def close_auction(access: CommitteeAccess, spec: dict[str, Any],
                        openings: list[dict[str, Any]]) -> RunResult:
    """Close, gather the signed statements and the admitted headers; ``openings`` are the
    winners' published openings (the others are ignored)."""
    async with Coordinator(access) as co:
        info = await co.info()
        statements, elapsed = await co.close(spec["auction"])
        replies = await co.all({"op": "headers", "auction": spec["auction"]})
    outcome, reason = agreed_outcome(statements)
    headers: list[dict[str, Any]] = next((r["headers"] for r in replies if isinstance(r, dict) and r.get("ok")), [])
    winners = set(outcome["winners"]) if outcome else set()
    return RunResult(spec["auction"], spec["mechanism"], len(access.intake), outcome, reason,
                     [s if isinstance(s, dict) else {"status": "unreachable", "reason": str(s)} for s in statements],
                     headers, [], [o for o in openings if o.get("bidder") in winners and spec["mechanism"] != "double"],
                     elapsed, 0.0, spec, key_set([str(i["signer"]) for i in info],
                                                 [str(i["encryption_key"]) for i in info]))

