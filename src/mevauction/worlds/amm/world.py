"""The ``amm`` world: constant-product pools and ERC-20 balances, executed exactly.

An order's bid is what its program (see :mod:`.orders`) pays at the state it finds
at its place in the block — a fixed tip, or a share of profit that depends on the
reserves left by the orders before it (Boost+ paper § 3.2, Example 1).

Access keys are structural and fixed per order: ``pool:<id>`` for every pool it
swaps through (reserves are read and written) and ``bal:<token>:<owner>`` for every
balance it moves. Orders on pools and balances nobody else touches are therefore
conflict-free, and every key is both read and written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mevauction.worlds.amm import compiled
from mevauction.worlds.amm.orders import Arbitrage, Backrun, Program, Sandwich, Swap, Transfer
from mevauction.worlds.amm.state import AmmCursor
from mevauction.worlds.base import Access, Cursor, Order, World


@dataclass(frozen=True, slots=True)
class Pool:
    """A Uniswap-V2 pair at the parent state."""

    id: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "token0": self.token0, "token1": self.token1,
                "reserve0": self.reserve0, "reserve1": self.reserve1}


class AmmWorld(World):
    kind = "amm"
    # State is pools and balances, and an order reads and writes only its own keys:
    # orders with disjoint keys commute (used by the exhaustive search's reduction).
    disjoint_orders_commute = True

    def __init__(self, orders: Sequence[Order], programs: Mapping[str, Program], pools: Sequence[Pool],
                 balances: Mapping[tuple[str, str], int], numeraire: str,
                 order_fields: Mapping[str, dict[str, Any]]):
        super().__init__(orders)
        self.programs: dict[str, Program] = dict(programs)
        self.pools = list(pools)
        self.balances = dict(balances)
        self.numeraire = numeraire
        self.initial_reserves: list[int] = [r for p in self.pools for r in (p.reserve0, p.reserve1)]
        self.initial_balances: dict[str, int] = {f"{t}:{o}": v for (t, o), v in self.balances.items()}
        self._fields = {k: dict(v) for k, v in order_fields.items()}
        self._access: dict[str, Access] = {}
        # With each transaction as a written key (``World.conflict_access``): fixed per
        # order like its keys, so made once here rather than on every call (grouping
        # and the exhaustive search's reduction ask for it per order and per group).
        self._conflict_access: dict[str, Access] = {}
        for oid, program in self.programs.items():
            keys = frozenset(program.keys)
            self._access[oid] = Access(keys, keys)
            self._conflict_access[oid] = super().conflict_access(oid)
        self._exclusive = payment_couplings(self.orders, self.programs)
        self._core: Any | None = None  # the compiled core, made at the first cursor (compiled.py)
        self._core_made = False

    def access(self, order_id: str) -> Access:
        return self._access[order_id]

    def conflict_access(self, order_id: str) -> Access:
        return self._conflict_access[order_id]

    def cursor(self) -> Cursor:
        """The compiled core's cursor where it runs (``compiled.py``), else ``AmmCursor``:
        the same outcomes, bids and states (``tests/amm/test_amm_core.py``)."""
        if not self._core_made:
            self._core = compiled.compile_world(self.programs, self.initial_reserves, self.initial_balances)
            self._core_made = True
        if self._core is None:
            return AmmCursor(self)
        return self._core.cursor()  # type: ignore[no-any-return]

    def pure_cursor(self) -> AmmCursor:
        """The specification's cursor, whatever ``cursor`` runs."""
        return AmmCursor(self)

    def use_pure_cursor(self) -> AmmWorld:
        """From now on ``cursor`` is ``AmmCursor`` (tests and the benchmark's baseline)."""
        self._core, self._core_made = None, True
        return self

    def __getstate__(self) -> dict[str, Any]:
        # the compiled core is a C object: not pickled, made again by the receiver
        return {**self.__dict__, "_core": None, "_core_made": False}

    def commutative(self, order_ids: Sequence[str]) -> bool:
        """Transfers of one token commute when every sender can cover all its transfers.

        Then no transfer can fail whatever the order, balances only add up, and the
        tips are fixed: every ordering gives the same block. Decided from the orders'
        structure and the parent state, never from bids.
        """
        outgoing: dict[str, int] = {}
        tokens: set[str] = set()
        for oid in order_ids:
            program = self.programs[oid]  # what executes, not what the order's label says
            if not isinstance(program, Transfer):
                return False
            tokens.add(program.from_key.split(":", 1)[0])
            outgoing[program.from_key] = outgoing.get(program.from_key, 0) + program.amount
        txs = [t for oid in order_ids for t in self.orders[oid].txs]
        if len(tokens) != 1 or len(txs) != len(set(txs)):
            return False
        return all(self.initial_balances.get(key, 0) >= total for key, total in outgoing.items())

    def exclusive_keys(self, order_id: str) -> frozenset[str]:
        return self._exclusive[order_id]

    def bid_bound(self, order_id: str) -> int | None:
        # A swap or transfer pays its fixed tip or, reverting, nothing; the other
        # kinds pay a share of a profit the reserves decide.
        program = self.programs[order_id]
        if isinstance(program, (Swap, Transfer)):
            return program.tip
        return None

    def verified_kind(self, order_id: str) -> str:
        # The parser built the order's program from its kind and checked its target
        # against the program's structure: here a kind is what executes.
        return self.orders[order_id].kind

    def to_json(self) -> dict[str, Any]:
        balances: dict[str, dict[str, int]] = {}
        for (token, owner), amount in self.balances.items():
            balances.setdefault(token, {})[owner] = amount
        return {"kind": self.kind, "numeraire": self.numeraire,
                "pools": [p.to_json() for p in self.pools], "balances": balances}

    def orders_json(self) -> list[dict[str, Any]]:
        """The ``orders`` of a scenario file that recreates this world's orders."""
        out = []
        for oid, order in self.orders.items():
            obj: dict[str, Any] = {"id": oid, "kind": order.kind, "target": order.target,
                                   "gas": order.gas, "txs": list(order.txs)}
            if order.reverting_tx_hashes:
                obj["revertingTxHashes"] = sorted(order.reverting_tx_hashes)
            obj.update(self._fields[oid])
            out.append(obj)
        return out


def bid_credits(program: Program) -> tuple[str, ...]:
    """Balances that receive what is left of a profit after the order's bid: how much
    lands there depends on the bid (the share the sender reports)."""
    if isinstance(program, Arbitrage):
        return (program.profit_key,)
    if isinstance(program, Backrun):
        return (program.arbitrage.profit_key,)
    if isinstance(program, Sandwich):
        return (program.capital_key,)
    return ()


def debits(program: Program) -> tuple[str, ...]:
    """Balances an order spends from, so that it reverts when they run short."""
    if isinstance(program, Swap):
        return (program.in_key,)
    if isinstance(program, Transfer):
        return (program.from_key,)
    if isinstance(program, Backrun):
        return (program.victim.in_key,)
    if isinstance(program, Sandwich):
        return (program.capital_key, program.victim.in_key)
    return ()


def payment_couplings(orders: Mapping[str, Order], programs: Mapping[str, Program]) -> dict[str, frozenset[str]]:
    """Per order, its transactions plus one key per pair (A, B) where A's bid decides
    what is left in a balance that B spends from: then A's report could decide B's
    outcome, so no block of the default's family holds both (issue 15 (d))."""
    credited: dict[str, list[str]] = {}
    for oid, program in programs.items():
        for key in bid_credits(program):
            credited.setdefault(key, []).append(oid)
    out = {oid: set(order.txs) for oid, order in orders.items()}
    for oid, program in programs.items():
        for key in debits(program):
            for payer in credited.get(key, ()):
                if payer != oid:
                    pair = f"pays:{payer}>{oid}"
                    out[payer].add(pair)
                    out[oid].add(pair)
    return {oid: frozenset(keys) for oid, keys in out.items()}
