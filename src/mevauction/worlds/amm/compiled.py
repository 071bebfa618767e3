"""Which cursor an amm world runs: the compiled core (``_core.c``) or the pure one.

``state.AmmCursor`` and the programs in ``orders.py`` are the specification; ``_core.c``
mirrors them in C for speed (issue 15, item 4) and is tested equal to them on
Hypothesis-drawn worlds (``tests/amm/test_amm_core.py``). This module translates a
world's programs into the core's tables and decides per world which path runs:

- ``MEVAUCTION_PURE_AMM=1`` in the environment, or the extension not built (no C
  compiler at install time: ``setup.py`` marks it optional) → pure Python;
- a world outside the range the core's arithmetic is proved for (see ``_core.c``:
  the sum of every reserve and balance at most 2¹¹² − 1, amounts non-negative, shares
  0–10000 bps) → pure Python for that world;
- otherwise the compiled core.

:data:`PATH` says which one this process uses and why (shown in pytest's header).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from mevauction.worlds.amm.orders import Arbitrage, Backrun, Hop, Program, Swap, Transfer
from mevauction.worlds.amm.uniswap import MAX_RESERVE, get_amount_in, get_amount_out, optimal_cycle_input
from mevauction.worlds.base import Outcome

_core: Any
try:
    _core = importlib.import_module("mevauction.worlds.amm._core")
    _missing = ""
except ImportError as exc:  # not built: no compiler when the package was installed
    _core, _missing = None, str(exc)

PURE = os.environ.get("MEVAUCTION_PURE_AMM", "") not in ("", "0")

if PURE:
    PATH = "pure Python (MEVAUCTION_PURE_AMM is set)"
elif _core is None:
    PATH = f"pure Python (compiled core not built: {_missing})"
else:
    PATH = f"compiled core ({_core.__file__})"


def available() -> bool:
    """True when worlds use the compiled core (within its range)."""
    return _core is not None and not PURE


def _swap_fields(p: Swap, slot: dict[str, int]) -> tuple[Any, ...]:
    if p.amount_in is not None:
        return (p.pool, int(p.zero_for_one), slot.setdefault(p.in_key, len(slot)),
                slot.setdefault(p.out_key, len(slot)), 1, p.amount_in, p.min_out, p.tip)
    return (p.pool, int(p.zero_for_one), slot.setdefault(p.in_key, len(slot)),
            slot.setdefault(p.out_key, len(slot)), 0, p.amount_out or 0, p.max_in, p.tip)


def _hops_fields(hops: tuple[Hop, ...], profit_key: str, share_bps: int, slot: dict[str, int]) -> tuple[Any, ...]:
    flat: list[int] = [len(hops)]
    for hop in hops:
        flat += [hop.pool, int(hop.zero_for_one)]
    return (*flat, slot.setdefault(profit_key, len(slot)), share_bps)


def _encode(p: Program, slot: dict[str, int]) -> tuple[Any, ...]:
    """One program as the core's tuple (kind numbers as in ``_core.c``); balance keys
    get slot numbers in order of appearance. The core refuses (ValueError) what its
    proof does not cover: negative amounts, shares outside 0–10000 bps, a cycle that
    visits a pool twice other than there and back."""
    if isinstance(p, Swap):
        return (0, p.gas, *_swap_fields(p, slot))
    if isinstance(p, Transfer):
        return (1, p.gas, slot.setdefault(p.from_key, len(slot)), slot.setdefault(p.to_key, len(slot)),
                p.amount, p.tip)
    if isinstance(p, Arbitrage):
        return (2, p.gas, *_hops_fields(p.hops, p.profit_key, p.share_bps, slot))
    if isinstance(p, Backrun):
        arb = p.arbitrage
        return (3, p.gas, *_swap_fields(p.victim, slot), *_hops_fields(arb.hops, arb.profit_key, arb.share_bps, slot))
    return (4, p.gas, *_swap_fields(p.victim, slot), slot.setdefault(p.capital_key, len(slot)), p.amount_in,
            p.share_bps)


def compile_world(programs: Mapping[str, Program], reserves: Sequence[int], balances: Mapping[str, int]) -> Any | None:
    """An amm world's programs and parent state (reserves: two per pool; balances by
    ``"<token>:<owner>"``) as a ``_core.Core``, or None when the pure cursor runs
    (switched off, not built, or outside the proved range)."""
    if not available():
        return None
    values = [*reserves, *balances.values()]
    if sum(values) > MAX_RESERVE or min(values, default=0) < 0:
        return None
    slot = {key: i for i, key in enumerate(balances)}  # keys no parent balance holds start at 0
    encoded = [_encode(p, slot) for p in programs.values()]
    try:
        return _core.Core(initial=[*reserves, *(balances.get(k, 0) for k in slot)], npools=len(reserves) // 2,
                          keys=list(slot), programs=encoded, index={oid: i for i, oid in enumerate(programs)},
                          outcome=Outcome, optimal=optimal_cycle_input, get_amount_out=get_amount_out,
                          get_amount_in=get_amount_in)
    except ValueError:  # outside what the core is proved for: the pure cursor runs
        return None
