"""The mutable AMM state under a block being built, with an undo log.

Exhaustive search pushes and pops orders millions of times, so the cursor never
copies the state: every write records (container, key, old value) in one log, a
push remembers the log length, and a pop (or a failed push) truncates the log back
to it, restoring old values in reverse. Reserves live in one flat list
(``res[2p]`` = reserve0 of pool p, ``res[2p+1]`` = reserve1); ERC-20 balances in a
dict keyed ``"<token>:<owner>"``.

This cursor is the specification; ``_core_exec.h`` mirrors it (and ``orders.py``,
``uniswap.py``) in C, and ``compiled.py`` picks which one a world runs. A change here
needs the same change there: ``tests/amm/test_amm_core.py`` fails until both agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mevauction.worlds.amm.uniswap import SwapError, get_amount_in, get_amount_out
from mevauction.worlds.base import Outcome

if TYPE_CHECKING:
    from mevauction.worlds.amm.world import AmmWorld


class Revert(Exception):
    """An order's transaction reverted: the whole order has no effect and pays nothing."""


class AmmCursor:
    """A block under construction: ``push`` executes an order on top, ``pop`` undoes it."""

    __slots__ = ("bal", "log", "marks", "programs", "res")

    def __init__(self, world: AmmWorld):
        self.programs = world.programs
        self.res: list[int] = list(world.initial_reserves)
        self.bal: dict[str, int] = dict(world.initial_balances)
        self.log: list[tuple[object, object, int]] = []
        self.marks: list[int] = []

    def push(self, order_id: str) -> Outcome:
        mark = len(self.log)
        self.marks.append(mark)
        program = self.programs[order_id]
        try:
            bid = program.run(self)
        except (Revert, SwapError) as exc:
            self._undo(mark)
            return Outcome(0, False, program.gas, str(exc))
        return Outcome(bid, True, program.gas)

    def try_push(self, order_id: str) -> int | None:
        """``push`` for callers that need only the bid: None when the order fails,
        and then nothing is left to pop (the failed push is already undone)."""
        mark = len(self.log)
        try:
            bid = self.programs[order_id].run(self)
        except (Revert, SwapError):
            self._undo(mark)
            return None
        self.marks.append(mark)
        return bid

    def pop(self) -> None:
        self._undo(self.marks.pop())

    def snapshot(self) -> tuple[list[int], dict[str, int]]:
        """The state now: every reserve (``res``) and the non-zero balances (a balance
        first written inside a popped frame is back at 0, which is absent)."""
        return list(self.res), {key: value for key, value in self.bal.items() if value}

    def depth(self) -> tuple[int, int]:
        """(frames, undo-log entries)."""
        return len(self.marks), len(self.log)

    def _undo(self, mark: int) -> None:
        log = self.log
        if len(log) > mark:
            for container, key, old in reversed(log[mark:]):
                container[key] = old  # type: ignore[index]
            del log[mark:]

    # --- state transitions used by order programs -------------------------------

    def reserves(self, pool: int, zero_for_one: bool) -> tuple[int, int]:
        """(reserve_in, reserve_out) of ``pool`` for a swap in the given direction."""
        res = self.res
        if zero_for_one:
            return res[2 * pool], res[2 * pool + 1]
        return res[2 * pool + 1], res[2 * pool]

    def _set_reserves(self, pool: int, zero_for_one: bool, reserve_in: int, reserve_out: int) -> None:
        res, log = self.res, self.log
        i_in, i_out = (2 * pool, 2 * pool + 1) if zero_for_one else (2 * pool + 1, 2 * pool)
        log.append((res, i_in, res[i_in]))
        log.append((res, i_out, res[i_out]))
        res[i_in] = reserve_in
        res[i_out] = reserve_out

    def swap_exact_in(self, pool: int, zero_for_one: bool, amount_in: int) -> int:
        """Swap an exact input through the pair; returns the output (getAmountOut).

        The hottest state transition of the search: reserves are read and logged
        inline rather than through ``reserves``/``_set_reserves``.
        """
        res = self.res
        i_in, i_out = (2 * pool, 2 * pool + 1) if zero_for_one else (2 * pool + 1, 2 * pool)
        reserve_in, reserve_out = res[i_in], res[i_out]
        out = get_amount_out(amount_in, reserve_in, reserve_out)
        if out <= 0:
            raise SwapError("INSUFFICIENT_OUTPUT_AMOUNT")
        log = self.log
        log.append((res, i_in, reserve_in))
        log.append((res, i_out, reserve_out))
        res[i_in] = reserve_in + amount_in
        res[i_out] = reserve_out - out
        return out

    def swap_exact_out(self, pool: int, zero_for_one: bool, amount_out: int) -> int:
        """Swap for an exact output; returns the input it costs (getAmountIn)."""
        reserve_in, reserve_out = self.reserves(pool, zero_for_one)
        amount_in = get_amount_in(amount_out, reserve_in, reserve_out)
        self._set_reserves(pool, zero_for_one, reserve_in + amount_in, reserve_out - amount_out)
        return amount_in

    def debit(self, key: str, amount: int) -> None:
        """ERC-20 ``transferFrom`` out of an account: reverts on insufficient balance."""
        bal = self.bal
        old = bal.get(key, 0)
        if old < amount:
            raise Revert(f"insufficient balance {key}")
        self.log.append((bal, key, old))
        bal[key] = old - amount

    def credit(self, key: str, amount: int) -> None:
        bal = self.bal
        old = bal.get(key, 0)
        self.log.append((bal, key, old))
        bal[key] = old + amount
