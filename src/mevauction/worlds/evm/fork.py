"""The evm world on a node's state: the slot's parent is the node's head.

``fork_world(rpc, orders)`` builds an :class:`EvmWorld` whose parent state is the
node's head and whose block context (number, timestamp, base fee, gas limit, chain
id, prevrandao) is the block the node mines next, so read/write sets and payments
come from the real bytecode deployed there. Two ways of reading the state:

- ``prefetch="dump"`` (anvil): the whole state at once (``anvil_dumpState``,
  :mod:`mevauction.chain.state`) loaded into pyrevm's memory: no RPC while orders run;
- ``prefetch="lazy"`` (any node): pyrevm's fork database (``fork_url`` and
  ``fork_block`` = the head's number), one round trip per account or slot first touched;
- ``prefetch=StateCache()`` (anvil; what a running service should use): the whole
  state dumped once, then kept at the head by applying each new block's state diff
  (``debug_traceBlockByNumber`` with the prestate tracer in diff mode: one call per
  block); a head that does not extend the cached one (a reorg, a restart) is dumped
  again. No RPC while orders run and none per slot beyond the new blocks' diffs;
- ``prefetch=HotState()`` (any node): the accounts and
  slots earlier slots touched (their read/write sets), plus the orders' senders and
  recipients, read at the head in one batched request and put in front of the lazy
  fork database, which serves only what is new. ``anvil_dumpState`` carries the
  node's whole history (every block and transaction), so it grows with the chain;
  the hot set grows with the state the workload touches.

:func:`world_json` is the ``world`` object of a scenario with the state embedded
(self-contained: the file replays without the node, byte for byte the same parent).
"""

from __future__ import annotations

from typing import Any

from mevauction.chain.rpc import RpcClient
from mevauction.chain.state import NextBlock, dump_accounts, next_block, read_keys
from mevauction.errors import InputError
from mevauction.worlds.evm.callbundle import CallBundleRequest, StateAt, call_bundle
from mevauction.worlds.evm.execution import BlockContext
from mevauction.worlds.evm.state import AccountState, parse_state
from mevauction.worlds.evm.world import EvmWorld, decode_once, from_scenario


class HotState:
    """The accounts and slots worth prefetching: what earlier worlds' orders touched."""

    def __init__(self) -> None:
        self.addresses: set[str] = set()
        self.slots: set[tuple[str, int]] = set()
        self.codes: dict[str, str] = {}

    def learn(self, world: EvmWorld) -> None:
        """Add every key of every order's read/write set."""
        for oid in world.orders:
            access = world.access(oid)
            for key in access.reads | access.writes:
                kind, _, rest = key.partition(":")
                if kind == "slot":
                    addr, _, slot = rest.partition(":")
                    self.slots.add((addr, int(slot, 16)))
                else:
                    self.addresses.add(rest)
        self.addresses.discard(world.block.coinbase)

    def read(self, rpc: RpcClient, block: int, orders: list[dict[str, Any]]) -> dict[str, Any]:
        addresses = set(self.addresses)
        for order in orders:  # senders and recipients of orders not seen before
            raws = order.get("raw_txs") or (order.get("bundle") or {}).get("txs") or []
            for raw in raws:
                try:
                    tx = decode_once(bytes.fromhex(raw.removeprefix("0x")))
                except (ValueError, TypeError):
                    continue  # the world refuses it by name
                addresses.add(tx.sender)
                if tx.to:
                    addresses.add(tx.to)
        return read_keys(rpc, block, addresses, self.slots, self.codes)


def _world_head(nxt: NextBlock, coinbase: str | None, timestamp: int | None) -> dict[str, Any]:
    block: dict[str, Any] = {"number": nxt.number, "timestamp": timestamp or nxt.timestamp,
                             "base_fee": nxt.base_fee, "gas_limit": nxt.gas_limit, "prevrandao": nxt.prevrandao}
    if coinbase:
        block["coinbase"] = coinbase
    return {"kind": "evm", "chain_id": nxt.chain_id, "block": block,
            "parent": {"number": nxt.parent_number, "hash": nxt.parent_hash}}


class StateCache:
    """The node's whole state at its head, kept current block by block."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountState] = {}
        self.number = -1
        self.hash = ""
        self.dumps = self.diffs = 0  # how it was kept: full dumps, blocks applied

    def sync(self, rpc: RpcClient, head: NextBlock) -> bool:
        """Bring the cache to ``head``'s parent; False if the node cannot dump its state."""
        if self.number == head.parent_number and self.hash == head.parent_hash:
            return True
        if 0 <= self.number < head.parent_number and head.parent_number - self.number <= 64:
            blocks = rpc.batch([("eth_getBlockByNumber", [hex(n), False])
                                for n in range(self.number + 1, head.parent_number + 1)])
            links = [self.hash] + [b["hash"] if isinstance(b, dict) else "" for b in blocks]
            chained = all(isinstance(b, dict) and b["parentHash"] == parent for b, parent in zip(blocks, links)) \
                and links[-1] == head.parent_hash
            if chained:
                config = {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}
                traces = rpc.batch([("debug_traceBlockByNumber", [b["number"], config]) for b in blocks])
                for trace in traces:
                    for item in trace:
                        self._apply(item.get("result", item))
                self.number, self.hash = head.parent_number, head.parent_hash
                self.diffs += len(blocks)
                return True
        dumped = dump_accounts(rpc)
        if dumped is None or dumped[0] != head.parent_number:
            return False
        self.accounts = parse_state(dumped[1], "anvil_dumpState")
        self.number, self.hash = head.parent_number, head.parent_hash
        self.dumps += 1
        return True

    def _apply(self, diff: dict[str, Any]) -> None:
        """One transaction's prestate diff: ``post`` holds the fields it changed, ``pre`` the slots it touched."""
        pre, post = diff.get("pre", {}), diff.get("post", {})
        for addr, before in pre.items():
            after = post.get(addr, {})
            gone = set(before.get("storage", {})) - set(after.get("storage", {}))
            if gone:  # a slot in pre but not in post was set to zero
                acc = self.accounts.setdefault(addr.lower(), AccountState())
                for key in gone:
                    acc.storage.pop(int(key, 16), None)
        for addr, after in post.items():
            acc = self.accounts.setdefault(addr.lower(), AccountState())
            if "balance" in after:
                acc.balance = int(after["balance"], 16)
            if "nonce" in after:
                acc.nonce = int(after["nonce"])
            if "code" in after:
                acc.code = bytes.fromhex(after["code"].removeprefix("0x"))
            for key, value in after.get("storage", {}).items():
                if int(value, 16):
                    acc.storage[int(key, 16)] = int(value, 16)
                else:
                    acc.storage.pop(int(key, 16), None)


def world_json(rpc: RpcClient, *, prefetch: str | HotState = "dump", coinbase: str | None = None,
               timestamp: int | None = None, orders: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """The ``world`` of a scenario whose parent is the node's head."""
    nxt = next_block(rpc)
    world = _world_head(nxt, coinbase, timestamp)
    block = world["block"]
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
    elif isinstance(prefetch, HotState):
        world["state"] = prefetch.read(rpc, nxt.parent_number, list(orders))
    elif prefetch != "lazy":
        raise ValueError(f"prefetch must be 'dump' or 'lazy', not {prefetch!r}")
    world["fork_url"] = rpc.url
    world["fork_block"] = hex(nxt.parent_number)
    return world


def fork_world(rpc: RpcClient, orders: list[dict[str, Any]], *, prefetch: str | HotState | StateCache = "dump",
               coinbase: str | None = None, timestamp: int | None = None) -> EvmWorld:
    """An evm world of ``orders`` (scenario order objects) on the node's head state.

    With a :class:`HotState` the world's read/write sets are learnt into it for the next slot.
    """
    if isinstance(prefetch, StateCache):
        for _ in range(3):  # the head may move between reading it and syncing to it
            head = next_block(rpc)
            if prefetch.sync(rpc, head):
                break
        else:
            return fork_world(rpc, orders, prefetch="lazy", coinbase=coinbase, timestamp=timestamp)
        world = _world_head(head, coinbase, timestamp)
        exec_world = from_scenario({"world": world, "orders": orders}, accounts=prefetch.accounts)
        return exec_world
    world = world_json(rpc, prefetch=prefetch, coinbase=coinbase, timestamp=timestamp, orders=orders)
    built = from_scenario({"world": world, "orders": orders})
    if isinstance(prefetch, HotState):
        prefetch.learn(built)
    return built


__all__ = ["HotState", "NextBlock", "StateCache", "call_bundle_on_node", "fork_world", "next_block", "world_json"]


def call_bundle_on_node(rpc: RpcClient, req: CallBundleRequest, cache: StateCache | None = None) -> dict[str, Any]:
    """eth_callBundle against the node's head (or an older ``stateBlockNumber``, forked lazily)."""
    head = next_block(rpc)
    if req.state_block is None or req.state_block == head.parent_number:
        if cache is not None and cache.sync(rpc, head):
            state = StateAt(head.parent_number, cache.accounts)
        else:
            state = StateAt(head.parent_number, {}, rpc.url)
    elif req.state_block < head.parent_number:
        state = StateAt(req.state_block, {}, rpc.url)
    else:
        raise InputError("stateBlockNumber", f"{hex(req.state_block)} is after the head {hex(head.parent_number)}")
    block = BlockContext(req.block_number, req.timestamp or head.timestamp, head.base_fee, head.gas_limit,
                         "0x" + "00" * 20, head.chain_id, bytes.fromhex(head.prevrandao.removeprefix("0x")))
    return call_bundle(req.txs, state, block, req.coinbase)
