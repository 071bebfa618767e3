"""The evm world on a node's state: the slot's parent is the node's head.

``fork_world(rpc, orders)`` builds an :class:`EvmWorld` whose parent state is the
node's head and whose block context (number, timestamp, base fee, gas limit, chain
id, prevrandao) is the block the node mines next, so read/write sets and payments
come from the real bytecode deployed there. Two ways of reading the state:

- ``prefetch="dump"`` (anvil): the whole state at once (``anvil_dumpState``,
  :mod:`mevauction.chain.state`) loaded into pyrevm's memory: no RPC while orders run;
- ``prefetch="lazy"`` (any node): pyrevm's fork database (``fork_url`` and
  ``fork_block`` = the head's number), one round trip per account or slot first touched.

:func:`world_json` is the ``world`` object of a scenario with the state embedded
(self-contained: the file replays without the node, byte for byte the same parent).
"""

from __future__ import annotations

from typing import Any

from mevauction.chain.rpc import RpcClient
from mevauction.chain.state import NextBlock, dump_accounts, next_block
from mevauction.worlds.evm.world import EvmWorld, from_scenario


def world_json(rpc: RpcClient, *, prefetch: str = "dump", coinbase: str | None = None,
               timestamp: int | None = None) -> dict[str, Any]:
    """The ``world`` of a scenario whose parent is the node's head."""
    nxt = next_block(rpc)
    block: dict[str, Any] = {"number": nxt.number, "timestamp": timestamp or nxt.timestamp,
                             "base_fee": nxt.base_fee, "gas_limit": nxt.gas_limit, "prevrandao": nxt.prevrandao}
    if coinbase:
        block["coinbase"] = coinbase
    world: dict[str, Any] = {"kind": "evm", "chain_id": nxt.chain_id, "block": block,
                             "parent": {"number": nxt.parent_number, "hash": nxt.parent_hash}}
    if prefetch == "dump":
        dumped = dump_accounts(rpc)
        if dumped is not None:
            head, accounts = dumped
            if head == nxt.parent_number:
                world["state"] = accounts
                return world
        # Not anvil, or the head moved between the two reads: fall back to the lazy fork.
        nxt = next_block(rpc)
        world["parent"] = {"number": nxt.parent_number, "hash": nxt.parent_hash}
        block.update(number=nxt.number, base_fee=nxt.base_fee)
    elif prefetch != "lazy":
        raise ValueError(f"prefetch must be 'dump' or 'lazy', not {prefetch!r}")
    world["fork_url"] = rpc.url
    world["fork_block"] = hex(nxt.parent_number)
    return world


def fork_world(rpc: RpcClient, orders: list[dict[str, Any]], *, prefetch: str = "dump",
               coinbase: str | None = None, timestamp: int | None = None) -> EvmWorld:
    """An evm world of ``orders`` (scenario order objects) on the node's head state."""
    world = world_json(rpc, prefetch=prefetch, coinbase=coinbase, timestamp=timestamp)
    return from_scenario({"world": world, "orders": orders})


__all__ = ["NextBlock", "fork_world", "next_block", "world_json"]
