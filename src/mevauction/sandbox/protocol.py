"""The host's side of ``mevauction.algorithm/1``: one algorithm's session on a world.

Every message is one JSON object on one line. The host writes the slot first::

    {"protocol": "mevauction.algorithm/1", "slot": {"orders": [{"id", "txs", "gas",
     "reads", "writes", "alone"}], "block_gas_limit", "gas_metering", "budget_ms", "deadline"}}

(``deadline``: the host's CLOCK_MONOTONIC, in seconds, at which the run is killed;
the jail shares that clock. ``alone``: ``{"success", "bid", "gas_used", "error"}``, the
order pushed alone on the parent state — what every algorithm's first pass would ask
for, computed once for the slot, so eight algorithms do not spend their budget asking
the same 2 × |M \\ S| questions of one world, one at a time.)

then answers each request with one line:

- ``{"op": "push", "id"}`` → ``{"success", "bid", "gas_used", "error", "depth"}``
- ``{"op": "pop"}`` → ``{"depth"}``
- ``{"op": "simulate", "sequence": [...]}`` → ``{"results": [{"id", "success", "bid",
  "gas_used", "error"}], "value"}`` — a fresh block from the parent state; the
  push/pop stack is unchanged;
- ``{"op": "submit", "sequence": [...], "bid": "<wei>" | "truthful"}`` ends the run;
- ``{"op": "abort", "kind"}`` ends it without a submission: only a wasm module's host
  program in the jail (``guest/wasmhost.py``) may send it, naming one of a fixed set of
  failure kinds (fuel, imports, trap, ...), which the host words itself.

In a sealed slot (``serve --sealed``) the slot carries ``"sealed"``: the committee's
pinned member keys and what the bid's envelopes are bound to (auction id, the bid's
label, threshold, width, modulus). The algorithm then seals its own bid in the jail
(``mevseal``) and submits ``{"op": "submit", "sequence", "sealed": {"commitment",
"share_hashes", "ciphertexts"}}``: no amount crosses to the host; a plaintext ``bid``
in a sealed slot is refused unread.

Amounts are decimal strings. A request the host cannot serve (unknown op or order,
pop on an empty block) is answered ``{"error": ...}`` and the session goes on; a line
that is not JSON, or too long, ends it (:class:`ProtocolViolation`).

The session enforces what the world's cursor leaves to its callers (worlds/base.py
rule 3): an order sharing a transaction with the block so far fails without being
executed. Worlds with one live cursor (``evm``) are shared by all sessions of the
slot: a session whose cursor was superseded replays its own stack first (rule 2
makes the replay exact).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mevauction.worlds.base import Cursor, Outcome, StaleCursor, World

PROTOCOL = "mevauction.algorithm/1"
MAX_LINE = 1 << 20  # bytes in one request line


class ProtocolViolation(Exception):
    """The algorithm broke the protocol; the message is the reason reported for it."""


class Aborted(Exception):
    """The jail ended its run without a submission; ``kind`` is what it said went wrong."""

    def __init__(self, kind: object):
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Submission:
    sequence: tuple[str, ...]
    bid: int | None  # None: "truthful" (or sealed)
    sealed: dict[str, Any] | None = None  # a sealed slot's {commitment, share_hashes, ciphertexts}


@dataclass(frozen=True, slots=True)
class Sealing:
    """One run in a sealed slot: what the jail is told (``context``: pinned member keys and
    what the envelopes bind) and what takes its sealed output (``accept``: None when
    taken, else why not — it signs and forwards, never opens)."""

    context: dict[str, Any]
    accept: Callable[[dict[str, Any]], str | None]


MAX_ENVELOPE_HEX = 2 * 64 * 1024 + 2  # privacy.envelope.MAX_ENVELOPE_BYTES, as 0x-hex


def sealed_output(value: Any, members: int) -> dict[str, Any]:
    """The shape of a sealed submission (the committee checks the contents)."""
    def hex_strings(x: Any, limit: int) -> bool:
        return isinstance(x, list) and len(x) == members and all(isinstance(v, str) and len(v) <= limit for v in x)
    if not (isinstance(value, dict) and set(value) == {"commitment", "share_hashes", "ciphertexts"}
            and isinstance(value["commitment"], str) and len(value["commitment"]) <= 66
            and hex_strings(value["share_hashes"], 66) and hex_strings(value["ciphertexts"], MAX_ENVELOPE_HEX)):
        raise ProtocolViolation(f"submit.sealed must be {{commitment, share_hashes, ciphertexts}} with one hash "
                                f"and one envelope (at most 64 KiB) per each of the {members} committee members")
    return {"commitment": value["commitment"], "share_hashes": list(value["share_hashes"]),
            "ciphertexts": list(value["ciphertexts"])}


def slot_orders(host: WorldHost) -> list[dict[str, Any]]:
    """The orders of M \\ S as the slot message lists them (the same for every algorithm)."""
    orders = []
    world = host.world
    for oid in host.order:
        order = world.orders[oid]
        acc = world.access(oid)
        top = host.alone[oid]
        orders.append({"id": oid, "txs": list(order.txs), "gas": order.gas,
                       "reads": sorted(acc.reads), "writes": sorted(acc.writes),
                       "alone": {"success": top.success, "bid": str(top.bid), "gas_used": top.gas_used,
                                 "error": top.error}})
    return orders


def slot_message(world: World, orders: list[dict[str, Any]], budget_ms: int, deadline: float,
                 sealed: dict[str, Any] | None = None) -> bytes:
    """The first line an algorithm reads: the orders of M \\ S, nothing about who else runs."""
    slot: dict[str, Any] = {"orders": orders, "block_gas_limit": world.block_gas_limit,
            "gas_metering": world.gas_metering, "budget_ms": budget_ms, "deadline": round(deadline, 6)}
    if sealed is not None:
        slot["sealed"] = sealed
    return (json.dumps({"protocol": PROTOCOL, "slot": slot}, separators=(",", ":")) + "\n").encode()


def _outcome(oid: str, success: bool, bid: int, gas: int, error: str | None) -> dict[str, Any]:
    return {"id": oid, "success": success, "bid": str(bid), "gas_used": gas, "error": error}


class WorldHost:
    """One slot's world shared by its sessions; serialises access to it."""

    def __init__(self, world: World, order_ids: Sequence[str]):
        self.world = world
        self.allowed = frozenset(order_ids)
        self.order = list(order_ids)  # the slot message's order: wasm modules name orders by index
        self.lock = threading.Lock()
        # Each order alone at the top of the block, once for all the slot's algorithms.
        self.alone = world.top_outcomes(self.order)
        # Which session's cursor is the live one, for worlds with one live cursor.
        self.live_owner: object = None


class Session:
    """The push/pop stack of one algorithm, and its requests answered on the world."""

    def __init__(self, host: WorldHost, sealed_members: int | None = None):
        self.host = host
        self.sealed_members = sealed_members  # a sealed slot: the bid comes as that many envelopes
        self.stack: list[tuple[str, bool]] = []  # (order id, executed and succeeded)
        self.txs: list[str] = []
        self.cursor: Cursor | None = None
        self.requests = 0

    # -- cursor bookkeeping (called with the host lock held) -------------------
    def _fresh_cursor(self) -> Cursor:
        cur = self.host.world.cursor()
        self.host.live_owner = self
        return cur

    def _own_cursor(self) -> Cursor:
        limited = self.host.world.max_live_cursors is not None
        if self.cursor is None or (limited and self.host.live_owner is not self):
            self.cursor = self._fresh_cursor()
            # Failed frames are bookkeeping only: they never stay on the cursor.
            for oid, ok in self.stack:
                if ok:
                    self.cursor.push(oid)
        return self.cursor

    def _cursor_push(self, oid: str) -> Outcome:
        try:
            return self._own_cursor().push(oid)
        except StaleCursor:  # someone outside the host opened a cursor: replay and retry
            self.cursor = None
            return self._own_cursor().push(oid)

    def _cursor_pop(self) -> None:
        try:
            self._own_cursor().pop()
        except StaleCursor:
            # The replayed stack still holds the frame being popped: pop it there.
            self.cursor = None
            self._own_cursor().pop()

    # -- requests --------------------------------------------------------------
    def handle(self, line: bytes) -> tuple[dict[str, Any] | None, Submission | None]:
        """Answer one request line: (reply, None), or (None, submission) for submit."""
        try:
            msg = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise ProtocolViolation(f"request {self.requests + 1} is not JSON") from None
        if not isinstance(msg, dict):
            raise ProtocolViolation(f"request {self.requests + 1} is not a JSON object")
        return self.request(msg)

    def request(self, msg: dict[str, Any]) -> tuple[dict[str, Any] | None, Submission | None]:
        """One decoded request (the wasm runtime's host functions call this directly)."""
        self.requests += 1
        op = msg.get("op")
        if op == "submit":
            return None, self._submission(msg)
        if op == "abort":
            raise Aborted(msg.get("kind"))
        with self.host.lock:
            if op == "push":
                return self._push(msg.get("id")), None
            if op == "pop":
                return self._pop(), None
            if op == "simulate":
                return self._simulate(msg.get("sequence")), None
        return {"error": f"unknown op {op!r}"}, None

    def _push(self, oid: Any) -> dict[str, Any]:
        if not isinstance(oid, str) or oid not in self.host.allowed:
            return {"error": f"unknown order {oid!r}"}
        if len(self.stack) >= len(self.host.allowed):
            return {"error": "block is as deep as the slot has orders"}
        txs = self.host.world.orders[oid].txs
        if not set(self.txs).isdisjoint(txs):
            self.stack.append((oid, False))
            return {**_outcome(oid, False, 0, 0, "shares a transaction with the block"), "depth": len(self.stack)}
        out = self._cursor_push(oid)
        if out.success:
            self.stack.append((oid, True))
            self.txs.extend(txs)
        else:
            assert self.cursor is not None
            self.cursor.pop()  # a failed push changed nothing; keep only a bookkeeping frame
            self.stack.append((oid, False))
        return {**_outcome(oid, out.success, out.bid, out.gas_used, out.error), "depth": len(self.stack)}

    def _pop(self) -> dict[str, Any]:
        if not self.stack:
            return {"error": "pop on an empty block"}
        _, ok = self.stack[-1]
        if ok:
            self._cursor_pop()
            for _ in self.host.world.orders[self.stack[-1][0]].txs:
                self.txs.pop()
        self.stack.pop()
        return {"depth": len(self.stack)}

    def _simulate(self, seq: Any) -> dict[str, Any]:
        if not isinstance(seq, list) or len(seq) > len(self.host.allowed):
            return {"error": "sequence must be a list no longer than the slot's orders"}
        bad = next((x for x in seq if not isinstance(x, str) or x not in self.host.allowed), None)
        if bad is not None:
            return {"error": f"unknown order {bad!r}"}
        cur = self._fresh_cursor()
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        value = 0
        for oid in seq:
            txs = self.host.world.orders[oid].txs
            if not seen.isdisjoint(txs):
                results.append(_outcome(oid, False, 0, 0, "shares a transaction with the block"))
                continue
            out = cur.push(oid)
            if out.success:
                seen.update(txs)
                value += out.bid
            else:
                cur.pop()
            results.append(_outcome(oid, out.success, out.bid, out.gas_used, out.error))
        # Limited worlds: that cursor superseded ours; the next push replays the stack.
        if self.host.world.max_live_cursors is not None:
            self.host.live_owner = None
        return {"results": results, "value": str(value)}

    def _submission(self, msg: dict[str, Any]) -> Submission:
        seq = msg.get("sequence")
        if not isinstance(seq, list) or not all(isinstance(x, str) for x in seq):
            raise ProtocolViolation("submit.sequence must be a list of order ids")
        if len(seq) > 4 * len(self.host.allowed) + 16:
            raise ProtocolViolation("submit.sequence is longer than the slot")
        if self.sealed_members is not None:
            if "bid" in msg:  # never read, never echoed: the host must not hold the amount
                raise ProtocolViolation("this slot is sealed: submit.sealed (mevseal), not a plaintext submit.bid")
            return Submission(tuple(seq), None, sealed_output(msg.get("sealed"), self.sealed_members))
        bid = msg.get("bid")
        if bid == "truthful":
            return Submission(tuple(seq), None)
        if not isinstance(bid, str) or not bid.isdigit() or len(bid) > 78 or int(bid) >= 1 << 256:
            raise ProtocolViolation("submit.bid must be a decimal string of wei below 2**256, or \"truthful\"")
        return Submission(tuple(seq), int(bid))
