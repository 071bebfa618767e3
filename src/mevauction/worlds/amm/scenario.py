"""Reading an ``amm`` scenario (fields documented in docs/worlds/amm.md).

Everything is validated before any execution, and every problem is an
:class:`~mevauction.errors.InputError` naming the field, e.g.
``orders[3].path[1]: unknown pool 'p9'``. Orders' ``kind`` and ``target`` are
structural: the target is the pool an order trades on (for an arbitrage, the first
pool of its cycle; for a backrun or sandwich, the victim's pool) or the token of a
transfer. A target given in the file must agree with that.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mevauction.errors import InputError, as_wei, require
from mevauction.worlds.amm.orders import Arbitrage, Backrun, Hop, Program, Sandwich, Swap, Transfer, balance_key
from mevauction.worlds.amm.uniswap import MAX_RESERVE
from mevauction.worlds.amm.world import AmmWorld, Pool
from mevauction.worlds.base import Order
from mevauction.worlds.orders import parse_orders

KINDS = ("swap", "transfer", "arbitrage", "backrun", "sandwich")
BUNDLE_KINDS = ("backrun", "sandwich")


def _name(obj: dict, key: str, where: str) -> str:
    value = obj.get(key)
    if not (isinstance(value, str) and value != "" and ":" not in value):
        raise InputError(f"{where}.{key}", "missing or not a non-empty string without ':'")
    return value


def _share_bps(obj: dict, where: str) -> int:
    value = obj.get("share_bps")
    if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10_000):
        raise InputError(f"{where}.share_bps", "must be an integer from 0 to 10000 (basis points of profit)")
    return value


def _amount(obj: dict, key: str, where: str, positive: bool = False) -> int:
    require(key in obj, f"{where}.{key}", "missing")
    amount = as_wei(obj[key], f"{where}.{key}")
    require(not positive or amount > 0, f"{where}.{key}", "must be positive")
    return amount


def parse_pools(world: dict) -> list[Pool]:
    raw = world.get("pools")
    if not (isinstance(raw, list) and raw):
        raise InputError("world.pools", "missing or not a non-empty list")
    pools: list[Pool] = []
    seen: set[str] = set()
    for index, obj in enumerate(raw):
        where = f"world.pools[{index}]"
        require(isinstance(obj, dict), where, "must be an object")
        pid = _name(obj, "id", where)
        require(pid not in seen, f"{where}.id", f"duplicate pool id {pid!r}")
        seen.add(pid)
        token0, token1 = _name(obj, "token0", where), _name(obj, "token1", where)
        require(token0 != token1, f"{where}.token1", "must differ from token0")
        reserves = []
        for key in ("reserve0", "reserve1"):
            amount = _amount(obj, key, where, positive=True)
            require(amount <= MAX_RESERVE, f"{where}.{key}", "exceeds uint112 (Uniswap-V2 reserve bound)")
            reserves.append(amount)
        pools.append(Pool(pid, token0, token1, reserves[0], reserves[1]))
    return pools


def parse_balances(world: dict) -> dict[tuple[str, str], int]:
    raw = world.get("balances", {})
    require(isinstance(raw, dict), "world.balances", "must be an object {token: {owner: amount}}")
    balances: dict[tuple[str, str], int] = {}
    for token, owners in raw.items():
        require(isinstance(owners, dict) and ":" not in token, f"world.balances.{token}",
                "must be an object {owner: amount} under a token name without ':'")
        for owner, amount in owners.items():
            require(":" not in owner, f"world.balances.{token}.{owner}", "owner must not contain ':'")
            balances[(token, owner)] = as_wei(amount, f"world.balances.{token}.{owner}")
    return balances


class _Parser:
    """Turns each order object into its program, its structural target and its fields."""

    def __init__(self, pools: list[Pool], numeraire: str):
        self.pools = pools
        self.index = {p.id: i for i, p in enumerate(pools)}
        self.numeraire = numeraire

    def pool(self, pid: object, field: str) -> int:
        if not (isinstance(pid, str) and pid in self.index):
            raise InputError(field, f"unknown pool {pid!r}")
        return self.index[pid]

    def swap(self, obj: dict, order: Order, where: str) -> tuple[Swap, dict]:
        require(len(order.txs) == 1, f"{where}.txs", "a swap is one transaction")
        sender = _name(obj, "sender", where)
        p = self.pool(obj.get("pool"), f"{where}.pool")
        pool = self.pools[p]
        token_in = _name(obj, "token_in", where)
        require(token_in in (pool.token0, pool.token1), f"{where}.token_in",
                f"{token_in!r} is not a token of pool {pool.id!r}")
        zero_for_one = token_in == pool.token0
        token_out = pool.token1 if zero_for_one else pool.token0
        tip = _amount(obj, "tip", where)
        fields: dict[str, Any] = {"sender": sender, "pool": pool.id, "token_in": token_in, "tip": tip}
        exact_in = "amount_in" in obj
        require(exact_in != ("amount_out" in obj), where, "needs exactly one of 'amount_in' or 'amount_out'")
        if exact_in:
            amount_in, min_out = _amount(obj, "amount_in", where, True), _amount(obj, "min_out", where)
            amount_out, max_in = None, 0
            fields |= {"amount_in": amount_in, "min_out": min_out}
        else:
            amount_out, max_in = _amount(obj, "amount_out", where, True), _amount(obj, "max_in", where)
            amount_in, min_out = None, 0
            fields |= {"amount_out": amount_out, "max_in": max_in}
        program = Swap(order.gas, p, zero_for_one, pool.id, balance_key(token_in, sender),
                       balance_key(token_out, sender), amount_in, min_out, amount_out, max_in, tip)
        return program, fields

    def transfer(self, obj: dict, order: Order, where: str) -> tuple[Transfer, dict]:
        token, sender, recipient = (_name(obj, k, where) for k in ("token", "from", "to"))
        amount, tip = _amount(obj, "amount", where), _amount(obj, "tip", where)
        program = Transfer(order.gas, balance_key(token, sender), balance_key(token, recipient), amount, tip)
        return program, {"token": token, "from": sender, "to": recipient, "amount": amount, "tip": tip}

    def arbitrage(self, obj: dict, order: Order, where: str) -> tuple[Arbitrage, dict]:
        """A 2–3 pool cycle from the numeraire back to it (Boost+ paper Example 1)."""
        searcher = _name(obj, "searcher", where)
        path = obj.get("path")
        if not (isinstance(path, list) and 2 <= len(path) <= 3):
            raise InputError(f"{where}.path", "must list 2 or 3 pool ids")
        hops: list[Hop] = []
        token = self.numeraire
        for k in range(len(path)):
            p = self.pool(path[k], f"{where}.path[{k}]")
            pool = self.pools[p]
            require(token in (pool.token0, pool.token1), f"{where}.path[{k}]",
                    f"pool {pool.id!r} does not trade {token!r}")
            hops.append(Hop(p, token == pool.token0, pool.id))
            token = pool.token1 if token == pool.token0 else pool.token0
        require(token == self.numeraire, f"{where}.path", f"must end in the numeraire {self.numeraire!r}")
        program = Arbitrage(order.gas, tuple(hops), balance_key(self.numeraire, searcher), _share_bps(obj, where))
        return program, {"searcher": searcher, "path": list(path), "share_bps": program.share_bps}

    def victim(self, obj: dict, order: Order, where: str, swaps: dict[str, tuple[Order, Swap]],
               position: int) -> tuple[Order, Swap]:
        vid = obj.get("victim")
        if not (isinstance(vid, str) and vid in swaps):
            raise InputError(f"{where}.victim", f"not the id of a swap order: {vid!r}")
        victim_order, victim = swaps[vid]
        require(order.txs[position] == victim_order.txs[0], f"{where}.txs[{position}]",
                f"must be the victim's transaction {victim_order.txs[0]!r}")
        return victim_order, victim

    def backrun(self, obj: dict, order: Order, where: str, swaps: dict) -> tuple[Backrun, dict]:
        require(len(order.txs) == 2, f"{where}.txs", "a backrun is [victim tx, arbitrage tx]")
        victim_order, victim = self.victim(obj, order, where, swaps, 0)
        arb, fields = self.arbitrage(obj, order, where)
        return Backrun(order.gas, victim, arb), {"victim": victim_order.id, **fields}

    def sandwich(self, obj: dict, order: Order, where: str, swaps: dict) -> tuple[Sandwich, dict]:
        require(len(order.txs) == 3, f"{where}.txs", "a sandwich is [front-run tx, victim tx, back-run tx]")
        victim_order, victim = self.victim(obj, order, where, swaps, 1)
        require(victim.in_key.split(":", 1)[0] == self.numeraire, f"{where}.victim",
                f"a sandwiched swap must sell the numeraire {self.numeraire!r}")
        attacker = _name(obj, "searcher", where)
        amount_in = _amount(obj, "amount_in", where, positive=True)
        program = Sandwich(order.gas, victim, balance_key(self.numeraire, attacker), amount_in, _share_bps(obj, where))
        return program, {"victim": victim_order.id, "searcher": attacker, "amount_in": amount_in,
                         "share_bps": program.share_bps}


def _structural_target(order: Order, program: Program, fields: dict, where: str) -> Order:
    if isinstance(program, Transfer):
        target = fields["token"]
    elif isinstance(program, Arbitrage):
        target = program.hops[0].pool_id
    else:
        target = program.pool_id if isinstance(program, Swap) else program.victim.pool_id
    require(order.target in (None, target), f"{where}.target",
            f"must be {target!r} (set from the order's structure) or absent")
    return replace(order, target=target)


def from_scenario(scenario: dict) -> AmmWorld:
    world = scenario.get("world")
    if not isinstance(world, dict):
        raise InputError("world", "missing or not an object")
    numeraire = world.get("numeraire", "WETH")
    require(isinstance(numeraire, str) and numeraire != "", "world.numeraire", "must be a token name")
    pools = parse_pools(world)
    balances = parse_balances(world)
    parser = _Parser(pools, numeraire)
    entries = parse_orders(scenario)
    parsed: dict[str, tuple[Order, Program, dict]] = {}
    swaps: dict[str, tuple[Order, Swap]] = {}
    # Swaps first: bundles refer to their victim swap, wherever it is listed.
    for index, (order, obj) in enumerate(entries):
        require(order.kind in KINDS, f"orders[{index}].kind", f"must be one of {', '.join(KINDS)}")
        if order.kind == "swap":
            swap, fields = parser.swap(obj, order, f"orders[{index}]")
            swaps[order.id] = (order, swap)
            parsed[order.id] = (order, swap, fields)
    for index, (order, obj) in enumerate(entries):
        where = f"orders[{index}]"
        if order.kind == "transfer":
            parsed[order.id] = (order, *parser.transfer(obj, order, where))
        elif order.kind == "arbitrage":
            require(len(order.txs) == 1, f"{where}.txs", "an arbitrage is one transaction")
            parsed[order.id] = (order, *parser.arbitrage(obj, order, where))
        elif order.kind == "backrun":
            parsed[order.id] = (order, *parser.backrun(obj, order, where, swaps))
        elif order.kind == "sandwich":
            parsed[order.id] = (order, *parser.sandwich(obj, order, where, swaps))
    orders, programs, fields_by_id = [], {}, {}
    for index, (order, _obj) in enumerate(entries):
        order, program, fields = parsed[order.id]
        orders.append(_structural_target(order, program, fields, f"orders[{index}]"))
        programs[order.id] = program
        fields_by_id[order.id] = fields
    return AmmWorld(orders, programs, pools, balances, numeraire, fields_by_id)
