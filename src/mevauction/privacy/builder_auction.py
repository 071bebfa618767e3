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
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from mevauction.errors import InputError
from mevauction.privacy.client import RunResult, SealedBid, run_local, run_on

RESERVE_LABEL = "β0"
BUILDER_BITS = 128


def collapse(bids: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    best: dict[str, tuple[int, int]] = {}
    for pos, (builder, bid) in enumerate(bids):
        if builder not in best or bid > best[builder][0]:
            best[builder] = (bid, pos)
    return [(b, v) for b, (v, _) in sorted(best.items(), key=lambda kv: kv[1][1])]


def check_amounts(reserve: int, bids: Sequence[tuple[str, int]], bits: int) -> None:
    """Every amount an integer in [0, 2^bits) wei, or an InputError naming it."""
    for field, amount in [("reserve", reserve)] + [(f"bids.{b}", v) for b, v in bids]:
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < 1 << bits:
            raise InputError(field, f"the sealed builder auction takes integers in [0, 2^{bits}) wei, got {amount!r}")


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
                           committee: list[tuple[str, int]] | None = None) -> tuple[str | None, int]:
    """(winning builder id or None for the default block, price), via the committee.

    ``committee``: intake addresses of running servers; by default a local committee of
    ``parties`` servers is started for this one auction and stopped after it.
    """
    check_amounts(reserve, bids, bits)
    sealed = sealed_bids(reserve, bids)
    if committee is not None:
        result = asyncio.run(run_on(committee, "builder", sealed, max_bids=len(sealed), bits=bits))
    else:
        result = run_local("builder", sealed, parties=parties, max_bids=len(sealed), bits=bits)
    return outcome(result)
