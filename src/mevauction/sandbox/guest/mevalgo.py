"""The builder-algorithm library, as an algorithm sees it inside the sandbox.

Standard library only, and nothing of mevauction: this file (and ``mevseal``, which
seals the bid in a sealed slot) is copied into the jail next to the algorithm and is
the only code the algorithm can import besides Python's standard library. The
protocol is ``mevauction.algorithm/1`` (one JSON object per line; docs/algorithms.md):
the host sends the slot, the algorithm sends requests and reads one reply per request,
and ends with ``submit``.

An algorithm is one function::

    def build(slot, sim):
        ...
        return sequence, bid          # bid: an int (wei) or "truthful"

In a sealed slot (``slot.sealed`` is not None) ``run`` seals the bid before it leaves
the jail; ``build`` is the same.

    if __name__ == "__main__":
        mevalgo.run(build)
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import NamedTuple

PROTOCOL = "mevauction.algorithm/1"
SEALED_JAIL = "/keccak"  # sandbox/jail.py binds the compiled Keccak here in a sealed slot's jail


class Outcome(NamedTuple):
    """What one push (or one order of a simulated sequence) gave: payment in wei."""

    id: str
    success: bool
    bid: int
    gas_used: int
    error: object


class Order(NamedTuple):
    """One order of M \\ S: ids of its transactions, declared gas, read/write keys, and
    ``alone``: what it gives pushed alone on the parent state (computed once by the host
    for every algorithm; the same as ``sim.push(id)`` then ``sim.pop()``, without the cost)."""

    id: str
    txs: tuple
    gas: int
    reads: frozenset
    writes: frozenset
    alone: Outcome

    def conflicts_with(self, other: Order) -> bool:
        # Transactions count as written keys: two bundles sharing one never fit together.
        if set(self.txs) & set(other.txs):
            return True
        return bool(self.writes & other.writes or self.writes & other.reads or self.reads & other.writes)


class Slot(NamedTuple):
    orders: tuple
    block_gas_limit: object  # int, or None when the world meters declared gas only
    gas_metering: str
    budget_ms: int
    deadline: float  # the host's CLOCK_MONOTONIC at which the run is killed
    # A sealed slot (serve --sealed): what the bid is sealed to; None when the host reads bids.
    sealed: object = None

    def by_id(self) -> dict:
        return {o.id: o for o in self.orders}

    def time_left(self) -> float:
        """Seconds left of the wall-clock budget (the host kills the run at 0)."""
        # The jail shares the host's monotonic clock, so the host's deadline is exact here:
        # it counts the jail's start too, which the algorithm cannot see from inside.
        return self.deadline - time.monotonic()

    def nearly_out(self, sim: Sim, reserve: float) -> bool:
        """Whether to stop searching now: less than ``reserve`` seconds (kept for sealing
        and submitting) plus two of the slowest request so far. Requests slow down when
        the world is expensive (real contracts) or other algorithms share it; a fixed
        reserve then lets the last request run past the deadline."""
        return self.time_left() < reserve + 2 * sim.slowest


class HostError(RuntimeError):
    """The host refused a request (unknown order, malformed request, ...)."""


class Sim:
    """The simulation handle: a block under construction on the slot's parent state."""

    def __init__(self, reader, writer):
        self._r, self._w = reader, writer
        self.depth = 0
        self.requests = 0
        self.slowest = 0.0  # seconds: the longest round trip of a request so far

    def request(self, msg: dict) -> dict:
        """One request and its reply as the host sent it (a refusal is ``{"error": ...}``)."""
        sent = time.monotonic()
        self._w.write(json.dumps(msg, separators=(",", ":")) + "\n")
        self._w.flush()
        line = self._r.readline()
        self.slowest = max(self.slowest, time.monotonic() - sent)
        if not line:
            raise SystemExit(0)  # the host is gone (budget over): nothing left to do
        self.requests += 1
        return json.loads(line)

    def _call(self, msg: dict) -> dict:
        reply = self.request(msg)
        if "error" in reply and "success" not in reply:
            raise HostError(reply["error"])
        return reply

    def push(self, order_id: str) -> Outcome:
        """Execute the order on top of the block so far; one frame even if it fails."""
        r = self._call({"op": "push", "id": order_id})
        self.depth = r["depth"]
        return _outcome(order_id, r)

    def pop(self) -> None:
        self.depth = self._call({"op": "pop"})["depth"]

    def simulate(self, sequence) -> tuple:
        """Execute a whole sequence from the parent state (the push/pop stack is kept).

        Returns (outcomes, value): failed orders are left out of the block and pay 0.
        """
        r = self._call({"op": "simulate", "sequence": list(sequence)})
        outs = [_outcome(x["id"], x) for x in r["results"]]
        return outs, int(r["value"])


def _outcome(oid: str, x: dict) -> Outcome:
    return Outcome(oid, x["success"], int(x["bid"]), x["gas_used"], x.get("error"))


def _read_slot(reader) -> Slot:
    first = json.loads(reader.readline())
    if first.get("protocol") != PROTOCOL:
        raise SystemExit(f"unexpected protocol {first.get('protocol')!r}")
    s = first["slot"]
    orders = tuple(Order(o["id"], tuple(o["txs"]), o["gas"], frozenset(o["reads"]), frozenset(o["writes"]),
                         _outcome(o["id"], o["alone"])) for o in s["orders"])
    return Slot(orders, s["block_gas_limit"], s["gas_metering"], s["budget_ms"], float(s["deadline"]),
                s.get("sealed"))


def run(build, reader=None, writer=None) -> None:
    """Read the slot, call ``build(slot, sim)`` and submit what it returns."""
    reader = reader or sys.stdin
    writer = writer or sys.stdout
    if os.path.exists(SEALED_JAIL):
        # A sealed slot's jail (only there is the compiled Keccak bound): load the sealing
        # before the slot arrives, which in a jail started ahead is before the deadline.
        import mevseal

        mevseal.preload()
    slot = _read_slot(reader)
    sim = Sim(reader, writer)
    sequence, bid = build(slot, sim)
    if slot.sealed is not None:
        # Sealed here, in the jail: the host gets envelopes only the committee opens.
        import mevseal

        amount = sim.simulate(sequence)[1] if bid == "truthful" else int(bid)
        msg = {"op": "submit", "sequence": list(sequence), "sealed": mevseal.seal(slot.sealed, amount)}
    else:
        msg = {"op": "submit", "sequence": list(sequence), "bid": "truthful" if bid == "truthful" else str(int(bid))}
    writer.write(json.dumps(msg) + "\n")
    writer.flush()
