"""The order kinds of the AMM world and what executing each one does.

Every kind is a small program over :class:`~mevauction.worlds.amm.state.AmmCursor`
that returns the order's bid b_i(s) at the state it finds, or raises to revert. A
reverted order has no effect and pays nothing. Bids are paid to the block's fee
recipient in wei; a share of profit is paid in the numeraire token (WETH), which
is worth 1 wei per unit.

- ``swap`` — a user's router swap with a slippage limit (``min_out`` for exact
  input, ``max_in`` for exact output), paying a fixed tip.
- ``transfer`` — an ERC-20 transfer paying a fixed tip; transfers of one token
  commute when no sender runs short (Boost+ paper § 5.2, "Insights").
- ``arbitrage`` — Boost+ paper Example 1 (Flashbots simple-blind-arbitrage): reads the
  reserves of a 2–3 pool cycle, trades the profit-maximising amount (a flash swap:
  no capital needed), pays ``share_bps`` of the realised profit; reverts when the
  cycle is not profitable at that state.
- ``backrun`` — a bundle [victim swap, arbitrage]: the arbitrage after the victim.
- ``sandwich`` — a bundle [front-run, victim swap, back-run] on the victim's pool:
  buys before the victim with a fixed amount of the numeraire, sells everything
  back after it, pays ``share_bps`` of the profit plus the victim's tip.

Bundles that contain a victim pay the victim's tip too (its priority fee is in the
bundle), and revert as a whole when the victim's slippage limit is violated.

The compiled core mirrors these programs step for step (``_core_exec.h``: same checks
in the same order, so the same error texts); ``tests/amm/test_amm_core.py`` compares them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mevauction.worlds.amm.state import AmmCursor, Revert
from mevauction.worlds.amm.uniswap import optimal_cycle_input

BPS = 10_000


def balance_key(token: str, owner: str) -> str:
    return f"{token}:{owner}"


@dataclass(frozen=True, slots=True)
class Hop:
    """One swap of a route: pool index and direction (token0 → token1 when zero_for_one)."""

    pool: int
    zero_for_one: bool
    pool_id: str


@dataclass(frozen=True, slots=True)
class Swap:
    gas: int
    pool: int
    zero_for_one: bool
    pool_id: str
    in_key: str
    out_key: str
    amount_in: int | None  # exact input, with min_out ...
    min_out: int
    amount_out: int | None  # ... or exact output, with max_in
    max_in: int
    tip: int

    def run(self, cur: AmmCursor) -> int:
        if self.amount_in is not None:
            cur.debit(self.in_key, self.amount_in)
            out = cur.swap_exact_in(self.pool, self.zero_for_one, self.amount_in)
            if out < self.min_out:
                raise Revert("INSUFFICIENT_OUTPUT_AMOUNT")
            cur.credit(self.out_key, out)
        else:
            amount_out = self.amount_out or 0
            spent = cur.swap_exact_out(self.pool, self.zero_for_one, amount_out)
            if spent > self.max_in:
                raise Revert("EXCESSIVE_INPUT_AMOUNT")
            cur.debit(self.in_key, spent)
            cur.credit(self.out_key, amount_out)
        return self.tip

    @property
    def keys(self) -> tuple[str, ...]:
        return (f"pool:{self.pool_id}", f"bal:{self.in_key}", f"bal:{self.out_key}")


@dataclass(frozen=True, slots=True)
class Transfer:
    gas: int
    from_key: str
    to_key: str
    amount: int
    tip: int

    def run(self, cur: AmmCursor) -> int:
        cur.debit(self.from_key, self.amount)
        cur.credit(self.to_key, self.amount)
        return self.tip

    @property
    def keys(self) -> tuple[str, ...]:
        return (f"bal:{self.from_key}", f"bal:{self.to_key}")


@dataclass(frozen=True, slots=True)
class Arbitrage:
    gas: int
    hops: tuple[Hop, ...]
    profit_key: str
    share_bps: int

    def run(self, cur: AmmCursor) -> int:
        amount_in = optimal_cycle_input([cur.reserves(h.pool, h.zero_for_one) for h in self.hops])
        if amount_in <= 0:
            raise Revert("unprofitable")
        amount = amount_in
        for hop in self.hops:
            amount = cur.swap_exact_in(hop.pool, hop.zero_for_one, amount)
        profit = amount - amount_in
        if profit <= 0:
            raise Revert("unprofitable")
        bid = profit * self.share_bps // BPS
        cur.credit(self.profit_key, profit - bid)
        return bid

    @property
    def keys(self) -> tuple[str, ...]:
        return (*(f"pool:{h.pool_id}" for h in self.hops), f"bal:{self.profit_key}")


@dataclass(frozen=True, slots=True)
class Backrun:
    gas: int
    victim: Swap
    arbitrage: Arbitrage

    def run(self, cur: AmmCursor) -> int:
        tip = self.victim.run(cur)
        return tip + self.arbitrage.run(cur)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.victim.keys + self.arbitrage.keys


@dataclass(frozen=True, slots=True)
class Sandwich:
    gas: int
    victim: Swap
    capital_key: str  # the attacker's numeraire balance
    amount_in: int
    share_bps: int

    def run(self, cur: AmmCursor) -> int:
        pool, direction = self.victim.pool, self.victim.zero_for_one
        cur.debit(self.capital_key, self.amount_in)
        bought = cur.swap_exact_in(pool, direction, self.amount_in)
        tip = self.victim.run(cur)
        back = cur.swap_exact_in(pool, not direction, bought)
        profit = back - self.amount_in
        if profit <= 0:
            raise Revert("unprofitable")
        bid = profit * self.share_bps // BPS
        cur.credit(self.capital_key, back - bid)
        return tip + bid

    @property
    def keys(self) -> tuple[str, ...]:
        return (*self.victim.keys, f"bal:{self.capital_key}")


Program = Swap | Transfer | Arbitrage | Backrun | Sandwich
