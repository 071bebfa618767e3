"""What a TFHE double auction's outcome is, and the statement each party signs for it.

The parties open the clearing level and, when the supply there is positive, each trader's
quantity at it; the auction trades only if a buyer and a seller both have a positive
quantity (``mechanisms.clear_double``'s rule). A long-lived party (``served``) signs the
outcome with its published key, over the auction id, the traders both parties agreed on
(labels, sides and a digest of their signed headers: the bid set) and the price on the
auctioneer's grid, so ``sealed verify`` can check a transcript against the pair's keys.
Plain Python: both venvs import it.
"""

from __future__ import annotations

from typing import Any

from mevauction.eth.keccak import keccak
from mevauction.privacy import messages


def cleared(level: int, quantities: list[int] | None, sides: list[str]) -> tuple[int | None, dict[int, int], bool]:
    """(clearing level or None, {trader: quantity} of those who trade, whether anyone trades)."""
    if level < 0:
        return None, {}, False
    trading = {i: int(v) for i, v in enumerate(quantities or []) if v > 0}
    trade = any(sides[i] == "buy" for i in trading) and any(sides[i] == "sell" for i in trading)
    return level, trading if trade else {}, trade


def bids_digest(auction: str, digests: list[str], bidders: list[str], sides: list[str]) -> str:
    """The bid set both parties ran on: each trader's signed header digest, label and side, in order."""
    rows = [[d, b, s] for d, b, s in zip(digests, bidders, sides, strict=True)]
    return "0x" + keccak(messages.canonical({"auction": auction, "bids": rows})).hex()


def signed_outcome(grid: list[str], level: int | None, trading: dict[int, int], bidders: list[str]) -> dict[str, Any]:
    """The outcome as signed and published: the price on the grid and quantities, decimal strings."""
    return {"price": None if level is None else str(grid[level]),
            "quantities": {bidders[i]: str(q) for i, q in sorted(trading.items())}}


def statement(role: int, auction: str, grid: list[str], public: dict[str, Any], level: int,
              quantities: list[int] | None, key: bytes) -> dict[str, Any]:
    """Party ``role``'s signed statement (``public``: the agreed bidders, sides and digests)."""
    bidders, sides = list(public["bidders"]), list(public["sides"])
    lv, trading, _ = cleared(level, quantities, sides)
    st = {"auction": auction, "backend": "tfhe", "server": role, "mechanism": "double", "n": len(bidders),
          "bidders": bidders, "sides": sides, "grid": list(grid),
          "bids_digest": bids_digest(auction, list(public["digests"]), bidders, sides), "status": "ok",
          "outcome": signed_outcome(grid, lv, trading, bidders), "signer": messages.address(key)}
    return {**st, "signature": messages.sign(messages.statement_digest(st), key)}
