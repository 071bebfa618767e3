"""The ``evm`` world: orders are signed transactions and bundles executed by pyrevm.

b_i(ω) is the fee recipient's balance increase caused by order i at its place in
block ω (priority fees plus direct transfers to ``block.coinbase``), as rbuilder
measures coinbase profit. The fee recipient is a fresh one-time address for every
world (Boost+ paper, footnote 8), so no bundle can tell the default algorithm's run
apart from any other non-integrated one; a scenario may pin it (backtests, or a
builder's own address for the integration trick of Remark 1).

Scenario fields are documented in docs/worlds/evm.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mevauction.errors import InputError, require
from mevauction.eth import fields
from mevauction.eth.transactions import MAX_TX_BYTES, Transaction, decode, refuse_unexecutable
from mevauction.worlds.base import Access, Order, Outcome, StaleCursor, World
from mevauction.worlds.evm.access import PRECOMPILES, access_from_journals
from mevauction.worlds.evm.execution import BlockContext, BundleResult, Executor, new_evm
from mevauction.worlds.evm.state import AccountState, load_into, parse_state, state_to_json
from mevauction.worlds.orders import parse_orders

# transfer(address,uint256)
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")
DEFAULT_BLOCK = {"number": 1, "timestamp": 1_700_000_000, "base_fee": 10**10, "gas_limit": 30_000_000}


@dataclass(frozen=True, slots=True)
class EvmOrder:
    """The execution side of an order: decoded transactions and bundle conditions."""

    txs: tuple[Transaction, ...]
    dropping: frozenset[str] = frozenset()
    block_number: int | None = None
    min_timestamp: int | None = None
    max_timestamp: int | None = None
    replacement_uuid: str | None = None

    def out_of_range(self, block: BlockContext) -> str | None:
        """Why a bundle's target block or time window excludes this block (eth_sendBundle)."""
        if self.block_number is not None and self.block_number != block.number:
            return f"bundle targets block {self.block_number}, not {block.number}"
        if self.min_timestamp and block.timestamp < self.min_timestamp:
            return f"block timestamp {block.timestamp} before minTimestamp {self.min_timestamp}"
        if self.max_timestamp and block.timestamp > self.max_timestamp:
            return f"block timestamp {block.timestamp} after maxTimestamp {self.max_timestamp}"
        return None


def one_time_address() -> str:
    return "0x" + secrets.token_bytes(20).hex()


def with_fee_recipient(accounts: dict[str, AccountState], coinbase: str) -> dict[str, AccountState]:
    """The parent state with the one-time fee recipient existing (nonce 1, no balance).

    A CALL with value to an empty account costs 25,000 gas more (EIP-161). Were the
    fresh address empty, the first order paying it directly would pay that charge,
    so its gas — and a bid that includes a priority fee per gas — would depend on
    whether a non-conflicting order paid the fee recipient first, and orders that
    do not conflict would not commute (rule 7 of mevauction.worlds.base). A real
    builder's fee recipient exists: it has sent payout transactions.
    """
    return {**accounts, coinbase: AccountState(nonce=1)}


class EvmWorld(World):
    kind = "evm"
    # Every cursor executes on the world's one EVM, so a new cursor supersedes the last.
    max_live_cursors = 1
    gas_metering = "executed"
    access_complete = False  # read sets come from revm's journal (access.py)

    def __init__(self, orders: Sequence[Order], exec_orders: dict[str, EvmOrder],
                 accounts: dict[str, AccountState], block: BlockContext, *,
                 coinbase_pinned: bool = False, fork_url: str | None = None, fork_block: str | None = None,
                 order_json: dict[str, dict] | None = None, parent: dict[str, Any] | None = None):
        self.block = block
        self.parent = parent  # provenance: the node block this parent state is (number, hash)
        self.block_gas_limit = block.gas_limit
        self.exec_orders = exec_orders
        self.coinbase_pinned = coinbase_pinned
        self.fork_url, self.fork_block = fork_url, fork_block
        self._order_json = order_json or {}
        evm = new_evm(block, fork_url, fork_block)
        if not coinbase_pinned:
            accounts = with_fee_recipient(accounts, block.coinbase)
        self.accounts = accounts
        load_into(evm, accounts)
        self.executor = Executor(evm, block)
        self._ignore = frozenset({block.coinbase}) | PRECOMPILES
        self._active: EvmCursor | None = None
        self._access: dict[str, Access] = {}
        self.top: dict[str, BundleResult] = {}
        super().__init__(orders)
        simulated = []
        for order in orders:
            result, access = self.simulate_top(order.id)
            self.top[order.id], self._access[order.id] = result, access
            gas = result.gas_used if result.success else sum(tx.gas_limit for tx in exec_orders[order.id].txs)
            simulated.append(replace(order, gas=max(gas, 21_000)))
        self.orders = {o.id: o for o in simulated}

    # --- the World interface --------------------------------------------------------
    def access(self, order_id: str) -> Access:
        return self._access[order_id]

    def top_outcomes(self, order_ids: Sequence[str]) -> dict[str, Outcome]:
        # The traces made at construction ran each order exactly as a first push does
        # (the parent state, the whole block gas limit).
        return {oid: Outcome(r.coinbase_delta, r.success, r.gas_used, r.error)
                for oid in order_ids for r in (self.top[oid],)}

    def commutative(self, order_ids: Sequence[str]) -> bool:
        """Verified from the decoded transactions and the top-of-block traces, never
        from ``kind``/``target`` labels: each order is one plain ``transfer(address,
        uint256)`` call to one token, from its own sender, that succeeded alone and
        wrote storage of that token only (its sender's and recipient's slots); and
        executing the set in the given and the reverse order gives the same block
        (this catches gas that depends on order, e.g. a first balance of a recipient)."""
        tokens: set[str] = set()
        senders: set[str] = set()
        for oid in order_ids:
            txs = self.exec_orders[oid].txs
            if len(txs) != 1 or not self.top[oid].success:
                return False
            tx = txs[0]
            if (tx.to is None or tx.value or len(tx.data) != 68 or tx.data[:4] != TRANSFER_SELECTOR
                    or tx.authorizations or tx.blob_versioned_hashes or tx.sender in senders):
                return False
            senders.add(tx.sender)
            tokens.add(tx.to)
            stored = [k for k in self._access[oid].writes if k.startswith("slot:")]
            if len(tokens) != 1 or len(stored) > 2 or any(not k.startswith(f"slot:{tx.to}:") for k in stored):
                return False
        forward = self.evaluate(order_ids)
        backward = self.evaluate(list(reversed(order_ids)))
        return (len(forward.orders) == len(order_ids) and set(forward.orders) == set(backward.orders)
                and dict(forward.bids) == dict(backward.bids))

    def cursor(self) -> EvmCursor:
        if self._active is not None:
            self._active.close()
        self._active = EvmCursor(self)
        return self._active

    def to_json(self) -> dict[str, Any]:
        block: dict[str, int | str] = {"number": self.block.number, "timestamp": self.block.timestamp,
                 "base_fee": self.block.base_fee, "gas_limit": self.block.gas_limit}
        if self.coinbase_pinned:
            block["coinbase"] = self.block.coinbase
        if any(self.block.prevrandao):
            block["prevrandao"] = "0x" + self.block.prevrandao.hex()
        out: dict[str, Any] = {"kind": self.kind, "chain_id": self.block.chain_id, "block": block,
                               "state": state_to_json(self._scenario_accounts())}
        if self.parent is not None:
            out["parent"] = self.parent
        if self.fork_url:
            out["fork_url"] = self.fork_url
            if self.fork_block:
                out["fork_block"] = self.fork_block
        return out

    def _scenario_accounts(self) -> dict[str, AccountState]:
        # A one-time fee recipient is never written out: a recreated world draws its own.
        if self.coinbase_pinned:
            return self.accounts
        return {a: acc for a, acc in self.accounts.items() if a != self.block.coinbase}

    def orders_json(self) -> list[dict[str, Any]]:
        """The ``orders`` of a scenario that recreates this world's orders."""
        return [self._order_json[oid] for oid in self.orders]

    # --- execution -----------------------------------------------------------------
    def _execute(self, order_id: str, gas_left: int) -> tuple[BundleResult, int]:
        spec = self.exec_orders[order_id]
        reason = spec.out_of_range(self.block)
        if reason is not None:
            return BundleResult(False, 0, 0, (), reason), self.executor.mark()
        order = self.orders.get(order_id)
        reverting = order.reverting_tx_hashes if order else frozenset()
        return self.executor.execute_bundle(spec.txs, reverting, spec.dropping, gas_left, key=order_id)

    def simulate_top(self, order_id: str) -> tuple[BundleResult, Access]:
        """Run one order at the top of the block, capturing its read/write set."""
        if self._active is not None:
            self._active.close()
            self._active = None
        executor = self.executor
        executor.settle()  # nothing of another run may land in this capture
        executor.captured = []
        try:
            result, mark = self._execute(order_id, self.block.gas_limit)
            executor.undo_to(mark)
            texts = executor.captured
        finally:
            executor.captured = None
        senders = {tx.sender for tx in self.exec_orders[order_id].txs}
        return result, access_from_journals(texts, senders, self._code_of, self._ignore)

    def _code_of(self, addr: str) -> bytes | None:
        acc = self.accounts.get(addr)
        if acc is not None or not self.fork_url:
            return acc.code if acc else None
        evm = self.executor.evm
        checkpoint = evm.snapshot()  # keep the journaled state empty (cold)
        code = evm.get_code(addr)
        evm.revert(checkpoint)
        return code


class EvmCursor:
    """A block under construction: each push executes a bundle, pop undoes its writes."""

    __slots__ = ("closed", "frames", "gas_used", "world")

    def __init__(self, world: EvmWorld):
        self.world = world
        self.frames: list[tuple[int, int]] = []
        self.gas_used = 0
        self.closed = False

    def push(self, order_id: str) -> Outcome:
        self._check_live()
        world = self.world
        result, mark = world._execute(order_id, world.block.gas_limit - self.gas_used)
        gas = result.gas_used if result.success else 0
        self.frames.append((mark, gas))
        self.gas_used += gas
        return Outcome(result.coinbase_delta, result.success, result.gas_used, result.error)

    def pop(self) -> None:
        self._check_live()
        mark, gas = self.frames.pop()
        self.world.executor.undo_to(mark)
        self.gas_used -= gas

    def close(self) -> None:
        """Undo every push: the world's EVM is back at the parent state."""
        while self.frames:
            self.pop()
        self.closed = True

    def _check_live(self) -> None:
        # Its frames were undone when it was superseded: a pop would undo another
        # cursor's block, a push would build on it.
        if self.closed:
            raise StaleCursor("this evm cursor was superseded by a newer cursor of the same world")


# --- scenario intake -------------------------------------------------------------------
def _int_field(obj: dict, name: str, where: str, default: int | None = None) -> int:
    """A number field: a JSON number or a 0x quantity (uint256 for fees, uint64 otherwise)."""
    limit = fields.UINT256_MAX if name == "base_fee" else fields.UINT64_MAX
    return fields.uint(obj.get(name, default), f"{where}.{name}", limit)


def parse_block(world: dict) -> tuple[BlockContext, bool]:
    obj = world.get("block", {})
    if not isinstance(obj, dict):
        raise InputError("world.block", "must be an object")

    def block_field(name: str) -> int:
        return _int_field(obj, name, "world.block", DEFAULT_BLOCK[name])

    number, timestamp = block_field("number"), block_field("timestamp")
    base_fee, gas_limit = block_field("base_fee"), block_field("gas_limit")
    pinned = obj.get("coinbase") is not None
    coinbase = fields.address(obj["coinbase"], "world.block.coinbase") if pinned else one_time_address()
    chain_id = _int_field(world, "chain_id", "world", 1)
    prevrandao = fields.bytes32(obj["prevrandao"], "world.block.prevrandao") if obj.get("prevrandao") else b"\x00" * 32
    return BlockContext(number, timestamp, base_fee, gas_limit, coinbase, chain_id, prevrandao), pinned


def decode_once(raw: bytes, where: str = "tx") -> Transaction:
    """``decode(raw, where)``, remembered by the raw bytes.

    The fork path reads a slot's senders (``HotState.read``) and then builds its world
    from the same raw transactions; a decoding (sender recovery included) depends on
    the bytes alone. A refused transaction is not remembered: it raises each time,
    naming ``where``.
    """
    tx = _DECODED.get(raw)
    if tx is None:
        tx = decode(raw, where)
        if len(_DECODED) >= _DECODED_MAX:  # bounded: a long-running service sees new txs forever
            _DECODED.clear()
        _DECODED[raw] = tx
    return tx


_DECODED: dict[bytes, Transaction] = {}
_DECODED_MAX = 8192


def decode_raw(value: Any, where: str) -> Transaction:
    """A signed raw transaction of a type the EVM world executes."""
    raw = fields.data(value, where, max_length=MAX_TX_BYTES)
    try:
        return refuse_unexecutable(decode_once(raw, where), where)
    except InputError as exc:
        raise InputError(exc.field, f"rejected: {exc.message}") from None


def _hashes(value: Any, where: str) -> frozenset[str]:
    require(isinstance(value, list) and all(isinstance(h, str) for h in value), where, "must be a list of tx hashes")
    return frozenset(h.lower() for h in value)


def parse_exec_order(order: Order, obj: dict, index: int) -> tuple[Order, EvmOrder]:
    """An order's signed transactions: ``raw_txs`` or a Flashbots ``bundle`` object."""
    where = f"orders[{index}]"
    bundle = obj.get("bundle")
    if bundle is not None:
        require(isinstance(bundle, dict), f"{where}.bundle", "must be an eth_sendBundle params object")
        raws, src, at = bundle.get("txs"), bundle, f"{where}.bundle"
    else:
        raws, src, at = obj.get("raw_txs"), obj, where
    require(isinstance(raws, list) and raws, f"{at}.{'txs' if bundle is not None else 'raw_txs'}",
            "missing or empty: an evm order needs its signed raw transactions")
    txs = tuple(decode_raw(r, f"{at}.{'txs' if bundle is not None else 'raw_txs'}[{k}]") for k, r in enumerate(raws))
    hashes = tuple(tx.hash for tx in txs)
    require(len(set(hashes)) == len(hashes), f"{where}", "repeats a transaction")
    if "txs" in obj and bundle is None:
        require(tuple(h.lower() for h in obj["txs"]) == hashes, f"{where}.txs",
                "do not match the hashes of raw_txs")
    reverting = _hashes(src.get("revertingTxHashes", []), f"{at}.revertingTxHashes")
    dropping = _hashes(src.get("droppingTxHashes", []), f"{at}.droppingTxHashes")
    number = src.get("blockNumber")
    spec = EvmOrder(
        txs, dropping,
        block_number=_int_field(src, "blockNumber", at) if number is not None else None,
        min_timestamp=_int_field(src, "minTimestamp", at, 0) or None,
        max_timestamp=_int_field(src, "maxTimestamp", at, 0) or None,
        replacement_uuid=src.get("replacementUuid"),
    )
    return replace(order, txs=hashes, reverting_tx_hashes=reverting), spec


def from_scenario(scenario: dict, accounts: dict[str, AccountState] | None = None) -> EvmWorld:
    """The world of a scenario; ``accounts`` (already parsed, not copied) instead of ``world.state``."""
    world = scenario.get("world")
    if not isinstance(world, dict):
        raise InputError("world", "missing or not an object")
    block, pinned = parse_block(world)
    if accounts is None:
        accounts = parse_state(world.get("state", {}), "world.state")
    fork_url = world.get("fork_url")
    require(fork_url is None or isinstance(fork_url, str), "world.fork_url", "must be a URL string")
    fork_block = world.get("fork_block")
    require(fork_block is None or isinstance(fork_block, str), "world.fork_block", "must be a string")
    orders: list[Order] = []
    exec_orders: dict[str, EvmOrder] = {}
    order_json: dict[str, dict] = {}
    for index, (order, obj) in enumerate(parse_orders(scenario)):
        order, spec = parse_exec_order(order, obj, index)
        orders.append(order)
        exec_orders[order.id] = spec
        order_json[order.id] = obj
    parent = world.get("parent")
    if parent is not None:
        require(isinstance(parent, dict), "world.parent", "must be an object (number, hash of the node's block)")
        parent = {"number": _int_field(parent, "number", "world.parent"),
                  "hash": fields.hash32(parent.get("hash"), "world.parent.hash")}
    return EvmWorld(orders, exec_orders, accounts, block, coinbase_pinned=pinned,
                    fork_url=fork_url, fork_block=fork_block, order_json=order_json, parent=parent)
