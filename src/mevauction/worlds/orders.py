"""The world-independent fields of a scenario's orders, shared by every world's parser.

An order in a ``mevauction.scenario/1`` document has an id, a declared gas, its
transaction hashes, the hashes allowed to revert, a kind and an optional target; each
world reads the rest of the object itself (its ``from_scenario``).
"""

from __future__ import annotations

from typing import Any

from mevauction.errors import InputError, require
from mevauction.worlds.base import Order

DEFAULT_GAS = 21_000


def parse_order_common(obj: Any, index: int) -> Order:
    """The world-independent fields of ``orders[index]``: id, gas, txs, kind, target."""
    where = f"orders[{index}]"
    require(isinstance(obj, dict), where, "must be an object")
    oid = obj.get("id")
    require(isinstance(oid, str) and oid != "", f"{where}.id", "missing or not a non-empty string")
    gas = obj.get("gas", DEFAULT_GAS)
    require(isinstance(gas, int) and not isinstance(gas, bool) and gas > 0, f"{where}.gas",
            "must be a positive integer")
    txs = obj.get("txs", [oid])
    require(
        isinstance(txs, list) and txs and all(isinstance(t, str) and t for t in txs),
        f"{where}.txs",
        "must be a non-empty list of transaction hashes",
    )
    require(len(set(txs)) == len(txs), f"{where}.txs", "repeats a transaction hash")
    reverting = obj.get("revertingTxHashes", [])
    require(isinstance(reverting, list) and all(isinstance(t, str) for t in reverting),
            f"{where}.revertingTxHashes", "must be a list of transaction hashes")
    kind = obj.get("kind", "bundle")
    require(isinstance(kind, str), f"{where}.kind", "must be a string")
    target = obj.get("target")
    require(target is None or isinstance(target, str), f"{where}.target", "must be a string")
    return Order(oid, tuple(txs), gas, frozenset(reverting), kind, target)


def parse_orders(scenario: dict) -> list[tuple[Order, dict]]:
    """Common order fields of every order, checking that ids are unique."""
    orders = scenario.get("orders")
    if not isinstance(orders, list):
        raise InputError("orders", "missing or not a list")
    seen: set[str] = set()
    out: list[tuple[Order, dict]] = []
    for index, obj in enumerate(orders):
        order = parse_order_common(obj, index)
        require(order.id not in seen, f"orders[{index}].id", f"duplicate order id {order.id!r}")
        seen.add(order.id)
        out.append((order, obj))
    return out
