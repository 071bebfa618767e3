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
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from mevauction.sandbox.jail import Limits, Program
from mevauction.sandbox.protocol import Session, Submission

try:
    import wasmtime
except ImportError:  # optional extra: "wasm"
    wasmtime = None  # type: ignore[assignment]


U64_MAX = (1 << 63) - 1  # "saturated": the largest i64
I32_MAX = (1 << 31) - 1


def wasm_problem() -> str | None:
    return None if wasmtime is not None else "wasmtime is not installed (pip install 'mevauction[wasm]')"


def engine() -> Any:
    config = wasmtime.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    return wasmtime.Engine(config)


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


def _i32(n: int) -> list[Any]:
    return [wasmtime.ValType.i32()] * n


class WasmRun:
    """One module's run on a session; ``run()`` is the thread's body."""

    def __init__(self, eng: Any, program: Program, session: Session, order_ids: list[str], limits: Limits):
        self.session = session
        self.ids = order_ids
        self.limits = limits
        self.last = 0
        self.submission: Submission | None = None
        self.reason: str | None = None
        self.refusal: str | None = None  # why a host function refused the module
        self.ended: float | None = None
        self.store = wasmtime.Store(eng)
        self.store.set_limits(memory_size=limits.wasm_memory_bytes, instances=1, tables=1, memories=1)
        self.store.set_fuel(limits.wasm_fuel)
        self.store.set_epoch_deadline(1)
        self.module = compiled(eng, program.code)
        world = session.host.world
        self.conflict = [world.conflict_access(i) for i in order_ids]

    def _linker(self, eng: Any) -> Any:
        linker = wasmtime.Linker(eng)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()

        def define(name: str, params: list[Any], results: list[Any], fn: Callable[..., Any]) -> None:
            bound = None if not results else U64_MAX if results == [i64] else I32_MAX
            linker.define_func("mev", name, wasmtime.FuncType(params, results), self._guarded(fn, bound),
                               access_caller=True)

        define("n_orders", [], [i32], lambda c: len(self.ids))
        define("conflicts", _i32(2), [i32], lambda c, i, j: int(self.conflict[self._index(i)].conflicts_with(
            self.conflict[self._index(j)])))
        define("alone", _i32(1), [i32], self._alone)
        define("push", _i32(1), [i32], self._push)
        define("pop", [], [i32], self._pop)
        define("simulate", _i32(2), [i32], self._simulate)
        define("last_u64", [], [i64], lambda c: self.last)
        define("last_bid", _i32(1), [], lambda c, p: self._memory(c).write(c, self.last.to_bytes(32, "little"), p))
        define("submit", _i32(3), [], self._submit)
        return linker

    def _guarded(self, fn: Callable[..., Any], bound: int | None) -> Callable[..., Any]:
        """A host function that never raises into wasmtime.

        wasmtime-py parks a host function's exception in one process-wide slot and
        re-raises it at the next trap or failed instantiation in *any* thread, so with
        modules running side by side one module's refusal would become another's
        reason. A refusal is kept on this run instead, and the module is stopped by
        taking its fuel: its next instruction traps inside wasm, which touches no
        shared state.
        """
        def host(caller: Any, *args: int) -> Any:
            if self.refusal is None:
                try:
                    result = fn(caller, *args)
                    return None if bound is None else max(-1, min(result, bound))
                except Exception as exc:  # a bad argument from the module: the module's fault
                    self.refusal = f"trap: {type(exc).__name__}: {str(exc)[:200]}"
            wasmtime.Store.set_fuel(caller, 0)  # the caller is the store's context inside a call
            return None if bound is None else 0
        return host

    def _index(self, i: int) -> int:
        if not 0 <= i < len(self.ids):
            raise ValueError(f"order index {i} out of range")
        return i

    @staticmethod
    def _memory(caller: Any) -> Any:
        mem = caller.get("memory")
        if not isinstance(mem, wasmtime.Memory):
            raise ValueError("module exports no memory")
        return mem

    def _indices(self, caller: Any, p: int, n: int) -> list[str]:
        if not 0 <= n <= 4 * len(self.ids) + 16:
            raise ValueError(f"sequence length {n} out of range")
        raw = self._memory(caller).read(caller, p, p + 4 * n)
        if len(raw) != 4 * n:
            raise ValueError("sequence outside the module's memory")
        return [self.ids[self._index(int.from_bytes(raw[k:k + 4], "little", signed=True))] for k in range(0, 4 * n, 4)]

    def _alone(self, caller: Any, i: int) -> int:
        out = self.session.host.alone[self.ids[self._index(i)]]
        self.last = out.bid
        return int(out.success)

    def _push(self, caller: Any, i: int) -> int:
        if not 0 <= i < len(self.ids):
            return -1
        reply, _ = self.session.request({"op": "push", "id": self.ids[i]})
        assert reply is not None
        if "success" not in reply:
            return -1
        self.last = int(reply["bid"])
        return 1 if reply["success"] else 0

    def _pop(self, caller: Any) -> int:
        reply, _ = self.session.request({"op": "pop"})
        assert reply is not None
        return int(reply.get("depth", -1))

    def _simulate(self, caller: Any, p: int, n: int) -> int:
        if n > len(self.ids):
            return -1
        reply, _ = self.session.request({"op": "simulate", "sequence": self._indices(caller, p, n)})
        assert reply is not None
        self.last = int(reply["value"])
        return sum(1 for r in reply["results"] if r["success"])

    def _submit(self, caller: Any, p: int, n: int, bid_p: int) -> None:
        seq = self._indices(caller, p, n)
        bid = None if bid_p == -1 else int.from_bytes(self._memory(caller).read(caller, bid_p, bid_p + 32), "little")
        self.session.requests += 1
        self.submission = Submission(tuple(seq), bid)

    def run(self, eng: Any) -> None:
        try:
            self._run(eng)
        finally:
            self.ended = time.monotonic()

    def _run(self, eng: Any) -> None:
        try:
            instance = self._linker(eng).instantiate(self.store, self.module)
            build = instance.exports(self.store).get("build")
            if not isinstance(build, wasmtime.Func):
                self.reason = "module exports no build function"
                return
            build(self.store)
            self.reason = self.refusal  # refused in its last host call, before it could trap
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            self.reason = self.refusal or _reason(str(exc), self.limits)
        except Exception as exc:  # not ours: another library's exception left in wasmtime's slot
            self.reason = self.refusal or f"trap: {type(exc).__name__}: {str(exc)[:200]}"
        if self.submission is None and self.reason is None:
            self.reason = "build returned without submitting"


def _reason(text: str, limits: Limits) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "trap"
    if "fuel" in text:
        return f"fuel limit ({limits.wasm_fuel} units): {first}"
    if "interrupt" in text:
        return f"timeout: no submission within the {limits.budget_ms} ms budget"
    if "unknown import" in text:
        return f"imports something other than the mev functions: {first}"
    return f"trap: {first[:200]}"


def start_ticker(eng: Any, deadline_s: float) -> threading.Timer:
    """Interrupt every module of this engine when the wall-clock budget is spent."""
    timer = threading.Timer(deadline_s, eng.increment_epoch)
    timer.daemon = True
    timer.start()
    return timer
