"""The Boost+ builders' auction computed by the committee (seed 004 Fig. 3 steps 3–4).

Same contract as ``mevauction.mechanism.auction.second_price_with_reserve``: the highest
builder bid β* wins if β0 < β* (ties go to the default block, returned as None with
price β0); the winner pays max(β0, β′), β′ the highest bid of the *other* builders;
ties between builders go to the earliest bid. Both the builders' bids and the reserve
β0 are secret-shared; only the winner and the price are opened.

A builder listed more than once is collapsed to its highest bid, placed where that bid
first appears — exactly the clear function's view, which excludes every bid of the
winning builder from β′.
"""

from __future__ import annotations

from collections.abc import Sequence

from mevauction.errors import InputError
from mevauction.privacy.client import SealedBid, run_local
from mevauction.privacy.field import BID_BITS

RESERVE_LABEL = "β0"


def collapse(bids: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    best: dict[str, tuple[int, int]] = {}
    for pos, (builder, bid) in enumerate(bids):
        if builder not in best or bid > best[builder][0]:
            best[builder] = (bid, pos)
    return [(b, v) for b, (v, _) in sorted(best.items(), key=lambda kv: kv[1][1])]


def sealed_builder_auction(reserve: int, bids: list[tuple[str, int]], parties: int = 3) -> tuple[str | None, int]:
    """(winning builder id or None for the default block, price), via a local committee."""
    for field, amount in [("reserve", reserve)] + [(f"bids.{b}", v) for b, v in bids]:
        if not 0 <= amount < 1 << BID_BITS:
            raise InputError(field, f"sealed bids must be integers in [0, 2^{BID_BITS}) wei, got {amount}")
    builders = collapse(bids)
    sealed = [SealedBid(RESERVE_LABEL, [reserve], side="reserve")]
    sealed += [SealedBid(str(b), [v], side="builder") for b, v in builders]
    result = run_local("builder", sealed, parties=parties, max_bids=len(sealed))
    if not result.ok:
        raise RuntimeError(f"sealed builder auction aborted: {result.reason}")
    excluded = result.rejected + result.statements[0].get("excluded", [])
    if excluded:
        raise RuntimeError(f"sealed builder auction refused bids: {excluded}")
    return result.outcome["winner"], int(result.outcome["price"])
