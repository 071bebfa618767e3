"""The WebAssembly runtime: an algorithm as a wasm module in wasmtime, no WASI.

The module imports only the functions below (module ``mev``) and exports ``memory``
and ``build() -> i32``; any other import fails instantiation, so it has no clock,
no files, no sockets, no environment. Order ``i`` is the i-th order of the slot
message's list (M \\ S); amounts are 32-byte little-endian integers in its memory.

=========================  ====================================================
``n_orders() -> i32``      orders of M \\ S
``conflicts(i, j) -> i32`` 1 when orders i and j conflict (keys or a transaction)
``alone(i) -> i32``        order i pushed alone on the parent state (computed once
                           by the host): 1 succeeded, 0 failed; its bid to last_*
``push(i) -> i32``         1 succeeded, 0 failed (a frame either way), -1 refused
``pop() -> i32``           the new depth, or -1 on an empty block
``simulate(p, n) -> i32``  run the n order indices at p from the parent state;
                           returns how many succeeded
``last_u64() -> i64``      the last push's bid or simulate's value, saturated
``last_bid(p)``            the same amount, all 32 bytes, written at p
``submit(p, n, bid_p)``    the block (n indices at p) and the bid at bid_p, or
                           bid_p = -1 for "truthful"; the last call counts
=========================  ====================================================

Limits: fuel (a deterministic instruction budget), a memory cap on the store, and
an epoch deadline that interrupts the module when the wall-clock budget is spent
(host calls are not metered by fuel, so the clock still binds).

The functions themselves are ``guest/mevwasm.py``, which turns each into a protocol
request: here the requests go straight to the run's session. In a sealed slot the
module runs in the jail instead (``guest/wasmhost.py``, started by :mod:`.jail`), where
the same functions' requests cross the jail's pipe and its bid is sealed before it
leaves; the host then hears only one of :data:`FAILURES` when it fails.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any

from mevauction.sandbox.guest.mevwasm import FAILURES, ModuleRun, config, wasmtime
from mevauction.sandbox.jail import Limits, Program
from mevauction.sandbox.protocol import Session, Submission

__all__ = ["FAILURES", "WasmRun", "compiled", "engine", "reason", "start_ticker", "wasm_problem"]


def wasm_problem() -> str | None:
    return None if wasmtime is not None else "wasmtime is not installed (pip install 'mevauction[wasm]')"


def engine() -> Any:
    return wasmtime.Engine(config())


# Compiled code by module hash: an algorithm submitted once runs every slot, and
# Cranelift compilation (≈ 5 ms for a small module) would otherwise be paid each time.
# Engines are per run (each has its own epoch); every one has the same configuration,
# so a serialized module loads into any of them.
_COMPILED: OrderedDict[bytes, bytes] = OrderedDict()
COMPILED_KEEP = 64


def compiled(eng: Any, code: bytes) -> Any:
    key = hashlib.sha256(code).digest()
    if key in _COMPILED:
        _COMPILED.move_to_end(key)
        return wasmtime.Module.deserialize(eng, _COMPILED[key])
    module = wasmtime.Module(eng, code)
    _COMPILED[key] = bytes(module.serialize())
    while len(_COMPILED) > COMPILED_KEEP:
        _COMPILED.popitem(last=False)
    return module


def reason(kind: str, detail: str, limits: Limits) -> str:
    """The reported reason for a failure kind; ``detail`` is appended when it may be shown."""
    text = {"fuel": f"fuel limit ({limits.wasm_fuel} units)",
            "interrupt": f"timeout: no submission within the {limits.budget_ms} ms budget",
            "imports": "imports something other than the mev functions",
            "invalid": "not a valid wasm module", "no-build": "module exports no build function",
            "no-submit": "build returned without submitting"}.get(kind, "trap")
    return f"{text}: {detail}" if detail and kind not in ("interrupt", "no-build", "no-submit") else text


class WasmRun:
    """One module's run in the service process, on a session; ``run()`` is the thread's body."""

    def __init__(self, eng: Any, program: Program, session: Session, order_ids: list[str], limits: Limits):
        self.session = session
        self.limits = limits
        self.submission: Submission | None = None
        self.reason: str | None = None
        self.ended: float | None = None
        store = wasmtime.Store(eng)
        store.set_limits(memory_size=limits.wasm_memory_bytes, instances=1, tables=1, memories=1)
        store.set_fuel(limits.wasm_fuel)
        store.set_epoch_deadline(1)
        world = session.host.world
        access = [world.conflict_access(i) for i in order_ids]
        alone = [session.host.alone[i] for i in order_ids]
        self.module = ModuleRun(store, compiled(eng, program.code), order_ids, self._request,
                                lambda i, j: access[i].conflicts_with(access[j]),
                                [(o.success, o.bid) for o in alone])

    def _request(self, msg: dict[str, Any]) -> dict[str, Any]:
        reply, _ = self.session.request(msg)
        assert reply is not None  # the module's submit is not a request
        return reply

    def run(self, eng: Any) -> None:
        try:
            failed = self.module.run()
            if self.module.submitted is not None:  # the last submit counts, whatever came after
                self.session.requests += 1
                seq, bid = self.module.submitted
                self.submission = Submission(tuple(seq), bid)
            if failed is not None:
                self.reason = reason(*failed, self.limits)
        finally:
            self.ended = time.monotonic()


def start_ticker(eng: Any, deadline_s: float) -> threading.Timer:
    """Interrupt every module of this engine when the wall-clock budget is spent."""
    timer = threading.Timer(deadline_s, eng.increment_epoch)
    timer.daemon = True
    timer.start()
    return timer
