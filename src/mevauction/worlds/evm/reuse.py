"""Reusing an order's outcome when it runs again on the same state (issue 15).

The default algorithm and its refunds push the same order on the same block-so-far
many times: every family starts from the parent state, the counterfactual runs
repeat the prefixes that do not contain the excluded order, and orders that touch
disjoint state reach the same state in either order. Executing a bundle reads only
the database (the journaled state is empty between transactions, the fee recipient
aside, whose balance is in the database too), the block context (fixed per world)
and the gas left in the block. So the outcome of pushing an order is a function of
(order, state, gas-left class), and so are the database writes it makes.

The state is named by a *state digest*: the XOR over every database write since the
parent state of ``h(key, old) ^ h(key, new)``, with ``h`` a keyed 256-bit BLAKE2b.
Per key the writes telescope to ``h(key, parent value) ^ h(key, current value)``,
so the digest depends on the current values alone, not on the path that led to them
(two commuting orders in either order give one digest). Two different states share
a digest only on a collision of a secret-keyed 256-bit hash: an order cannot
steer that. The undo log keeps each entry's contribution, so undoing to a mark
restores the digest of that mark (``Executor.prefix``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

_KEY = secrets.token_bytes(32)  # per process: the digest is never shown to anyone


class Digests:
    """Each written key's ``h(key, current value)``, so a write hashes its new value
    only (the old one's digest is known after the key's first write)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now: dict[tuple[str, int], int] = {}

    def change(self, address: str, key: int, old: Any, new: Any) -> int:
        """``h(key, old) ^ h(key, new)`` for a write being logged. ``key`` is a slot
        key, or -1 for an account, whose value is a pyrevm account info (the fee
        recipient's is its balance, an int)."""
        at = (address, key)
        before = self.now.get(at)
        if before is None:
            before = value_digest(address, key, old)
        after = self.now[at] = value_digest(address, key, new)
        return before ^ after

    def apply(self, entry: tuple) -> None:
        """A logged entry applied again (replayed) or taken back (undone): XOR is its
        own inverse."""
        at = (entry[0], entry[2])
        before = self.now.get(at)
        if before is None:
            before = value_digest(entry[0], entry[2], entry[1])
        self.now[at] = before ^ entry[4]


def value_digest(address: str, key: int, value: Any) -> int:
    if not isinstance(value, int):
        value = (value.balance, value.nonce, bytes(value.code_hash).hex())
    text = f"{address}:{key}:{value}".encode()
    return int.from_bytes(blake2b(text, digest_size=32, key=_KEY).digest(), "big")


@dataclass(slots=True)
class Reuse:
    """One remembered push: its result, what it needs to run again, and — once its last
    transaction was finalised — the undo-log entries it added (replayed on reuse)."""

    result: Any  # BundleResult
    run: tuple  # (txs, reverting, dropping, gas_left): execute_bundle's arguments
    entries: tuple | None = None


def gas_class(gas_left: int, txs: Any) -> int:
    """The gas left as far as a bundle can tell: only ``gas limit > gas left`` tests
    it (``Executor.invalid_reason``), so any amount at least the sum of its gas limits
    acts alike (-1)."""
    return -1 if gas_left >= sum(tx.gas_limit for tx in txs) else gas_left


MAX_REMEMBERED = 50_000  # pushes per world (one block; ≈ 2,000 on a 400-order one); cleared when reached
