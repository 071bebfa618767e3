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

import os
from collections.abc import Mapping, Sequence
from typing import Any

from mevauction.worlds.amm.orders import BPS, Arbitrage, Backrun, Hop, Program, Swap, Transfer
from mevauction.worlds.amm.uniswap import MAX_RESERVE, get_amount_in, get_amount_out, optimal_cycle_input
from mevauction.worlds.base import Outcome

_core: Any
try:
    from mevauction.worlds.amm import _core  # type: ignore[attr-defined,no-redef]

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
    exact_in = p.amount_in is not None
    amount = p.amount_in if exact_in else (p.amount_out or 0)
    return (p.pool, int(p.zero_for_one), slot[p.in_key], slot[p.out_key], int(exact_in), amount,
            p.min_out if exact_in else p.max_in, p.tip)


def _hops_fields(hops: tuple[Hop, ...], profit_key: str, share_bps: int, slot: dict[str, int]) -> tuple[Any, ...]:
    flat: list[int] = [len(hops)]
    for hop in hops:
        flat += [hop.pool, int(hop.zero_for_one)]
    return (*flat, slot[profit_key], share_bps)


def _encode(p: Program, slot: dict[str, int]) -> tuple[Any, ...]:
    """One program as the core's tuple (kind numbers as in ``_core.c``)."""
    if isinstance(p, Swap):
        return (0, p.gas, *_swap_fields(p, slot))
    if isinstance(p, Transfer):
        return (1, p.gas, slot[p.from_key], slot[p.to_key], p.amount, p.tip)
    if isinstance(p, Arbitrage):
        return (2, p.gas, *_hops_fields(p.hops, p.profit_key, p.share_bps, slot))
    if isinstance(p, Backrun):
        arb = p.arbitrage
        return (3, p.gas, *_swap_fields(p.victim, slot), *_hops_fields(arb.hops, arb.profit_key, arb.share_bps, slot))
    return (4, p.gas, *_swap_fields(p.victim, slot), slot[p.capital_key], p.amount_in, p.share_bps)


def _amounts(p: Program) -> list[int]:
    if isinstance(p, Swap):
        return [p.amount_in or 0, p.amount_out or 0, p.min_out, p.max_in, p.tip]
    if isinstance(p, Transfer):
        return [p.amount, p.tip]
    if isinstance(p, Arbitrage):
        return [p.share_bps, BPS - p.share_bps]
    if isinstance(p, Backrun):
        return _amounts(p.victim) + _amounts(p.arbitrage)
    return [*_amounts(p.victim), p.amount_in, p.share_bps, BPS - p.share_bps]


def _cycle_ok(hops: tuple[Hop, ...]) -> bool:
    """Distinct pools, or one pool there and back (whose optimal input is always 0):
    the core's proof that a too-large input reverts needs it."""
    pools = [h.pool for h in hops]
    if len(set(pools)) == len(pools):
        return True
    return len(hops) == 2 and hops[0].zero_for_one != hops[1].zero_for_one


def _in_range(programs: Mapping[str, Program], reserves: Sequence[int], balances: Mapping[str, int]) -> bool:
    values = [*reserves, *balances.values()]
    if sum(values) > MAX_RESERVE or min(values, default=0) < 0:
        return False
    for p in programs.values():
        if min(_amounts(p)) < 0:
            return False
        hops = p.hops if isinstance(p, Arbitrage) else p.arbitrage.hops if isinstance(p, Backrun) else None
        if hops is not None and not (1 <= len(hops) <= 3 and _cycle_ok(hops)):
            return False
    return True


def compile_world(programs: Mapping[str, Program], reserves: Sequence[int], balances: Mapping[str, int]) -> Any | None:
    """An amm world's programs and parent state (reserves: two per pool; balances by
    ``"<token>:<owner>"``) as a ``_core.Core``, or None when the pure cursor runs
    (switched off, not built, or outside the proved range)."""
    if not available() or not _in_range(programs, reserves, balances):
        return None
    keys = list(balances)
    slot = {key: i for i, key in enumerate(keys)}
    for p in programs.values():  # keys no parent balance holds start at 0
        for key in _balance_keys(p):
            if key not in slot:
                slot[key] = len(keys)
                keys.append(key)
    initial = [*reserves, *(balances.get(k, 0) for k in keys)]
    ids = list(programs)
    return _core.Core(initial=initial, npools=len(reserves) // 2, keys=keys,
                      programs=[_encode(programs[oid], slot) for oid in ids],
                      index={oid: i for i, oid in enumerate(ids)}, outcome=Outcome,
                      optimal=optimal_cycle_input, get_amount_out=get_amount_out, get_amount_in=get_amount_in)


def _balance_keys(p: Program) -> tuple[str, ...]:
    if isinstance(p, Swap):
        return (p.in_key, p.out_key)
    if isinstance(p, Transfer):
        return (p.from_key, p.to_key)
    if isinstance(p, Arbitrage):
        return (p.profit_key,)
    if isinstance(p, Backrun):
        return (*_balance_keys(p.victim), p.arbitrage.profit_key)
    return (*_balance_keys(p.victim), p.capital_key)
