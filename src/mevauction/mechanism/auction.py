"""The builders' auction of Fig. 3 steps (3)–(4): second price with reserve β0.

The highest builder bid β* wins if it beats the default block's value β0
(ties go to the default block); the winner pays max(β0, β′), β′ being the highest
bid of the *other* builders, and gets β* − max(β0, β′) back. Ties between builders
go to the earliest submission.

The function is pluggable: the sealed-bid committee (``mevauction.privacy``)
computes the same outcome over secret-shared bids and a secret reserve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# (reserve β0, [(builder id, β_j)]) → (winner id or None for the default, price)
BuilderAuction = Callable[[int, Sequence[tuple[str, int]]], tuple[str | None, int]]


def second_price_with_reserve(reserve: int, bids: Sequence[tuple[str, int]]) -> tuple[str | None, int]:
    winner: str | None = None
    top = -1
    for builder, bid in bids:
        if bid > top:
            winner, top = builder, bid
    if winner is None or reserve >= top:
        return None, reserve
    runner_up = max((bid for builder, bid in bids if builder != winner), default=0)
    return winner, max(reserve, runner_up)
