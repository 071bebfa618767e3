"""The ``mev`` host functions of a wasm algorithm, answered over any request channel.

The one home of the module's interface (documented in ``mevauction.sandbox.wasm``).
Each host function turns into a request of ``mevauction.algorithm/1`` (by order id,
not index) handed to ``request``: in the service process that is the session itself
(``sandbox/wasm.py``); in a sealed slot the module runs inside the jail
(``wasmhost.py``) and the same requests cross the jail's pipe, so the bid the module
submits is sealed there and never reaches the host.

Standard library and wasmtime only: this file is also copied into the jail, where
wasmtime is the service's own copy, bound read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    import wasmtime
except ImportError:  # optional extra: "wasm"
    wasmtime = None  # type: ignore[assignment]

U64_MAX = (1 << 63) - 1  # "saturated": the largest i64
I32_MAX = (1 << 31) - 1

# Why a run ended without a submission, as one of a fixed set of kinds: a jailed run
# reports only the kind (a module's own words would be a channel out of the jail).
FAILURES = ("fuel", "interrupt", "imports", "trap", "invalid", "no-build", "no-submit")


def config(memory_reservation: int | None = None, epochs: bool = True) -> Any:
    """The engine's configuration. A jail has an address-space limit, so it reserves
    only the store's memory cap (wasmtime's default reservation is 4 GiB) and compiles
    on one thread (threads count against its process limit)."""
    c = wasmtime.Config()
    c.consume_fuel = True
    c.epoch_interruption = epochs
    if memory_reservation is not None:
        c.memory_reservation = memory_reservation
        c.memory_guard_size = 64 << 10
        c.memory_reservation_for_growth = 0
        c.parallel_compilation = False
    return c


def _i32(n: int) -> list[Any]:
    return [wasmtime.ValType.i32()] * n


class ModuleRun:
    """One module's run in its own store. ``run()`` returns None when it submitted
    (``submitted``: order ids and the bid, None for "truthful"), else (kind, detail)."""

    def __init__(self, store: Any, module: Any, ids: list[str], request: Callable[[dict[str, Any]], dict[str, Any]],
                 conflicts: Callable[[int, int], bool], alone: list[tuple[bool, int]]):
        self.store, self.module = store, module
        self.ids = ids
        self.alone = alone  # per index: (success, bid) of the order alone at the top, from the slot
        self.request = request
        self.conflicts = conflicts
        self.last = 0
        self.submitted: tuple[list[str], int | None] | None = None
        self.refusal: str | None = None  # why a host function refused the module

    def _linker(self) -> Any:
        linker = wasmtime.Linker(self.store.engine)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()

        def define(name: str, params: list[Any], results: list[Any], fn: Callable[..., Any]) -> None:
            bound = None if not results else U64_MAX if results == [i64] else I32_MAX
            linker.define_func("mev", name, wasmtime.FuncType(params, results), self._guarded(fn, bound),
                               access_caller=True)

        define("n_orders", [], [i32], lambda c: len(self.ids))
        define("conflicts", _i32(2), [i32], lambda c, i, j: int(self.conflicts(self._index(i), self._index(j))))
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
                    self.refusal = f"{type(exc).__name__}: {str(exc)[:200]}"
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
        success, self.last = self.alone[self._index(i)]
        return int(success)

    def _push(self, caller: Any, i: int) -> int:
        if not 0 <= i < len(self.ids):
            return -1
        reply = self.request({"op": "push", "id": self.ids[i]})
        if "success" not in reply:
            return -1
        self.last = int(reply["bid"])
        return 1 if reply["success"] else 0

    def _pop(self, caller: Any) -> int:
        return int(self.request({"op": "pop"}).get("depth", -1))

    def _simulate(self, caller: Any, p: int, n: int) -> int:
        if n > len(self.ids):
            return -1
        reply = self.request({"op": "simulate", "sequence": self._indices(caller, p, n)})
        self.last = int(reply["value"])
        return sum(1 for r in reply["results"] if r["success"])

    def _submit(self, caller: Any, p: int, n: int, bid_p: int) -> None:
        seq = self._indices(caller, p, n)
        bid = None if bid_p == -1 else int.from_bytes(self._memory(caller).read(caller, bid_p, bid_p + 32), "little")
        self.submitted = (seq, bid)

    def run(self) -> tuple[str, str] | None:
        try:
            instance = self._linker().instantiate(self.store, self.module)
            build = instance.exports(self.store).get("build")
            if not isinstance(build, wasmtime.Func):
                return "no-build", ""
            build(self.store)
            if self.refusal:  # refused in its last host call, before it could trap
                return "trap", self.refusal
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            return ("trap", self.refusal) if self.refusal else failure(str(exc))
        except Exception as exc:  # not ours: another library's exception left in wasmtime's slot
            return "trap", self.refusal or f"{type(exc).__name__}: {str(exc)[:200]}"
        return None if self.submitted is not None else ("no-submit", "")


def failure(text: str) -> tuple[str, str]:
    """A trap's or instantiation error's kind, and its first line."""
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    if "fuel" in text:
        return "fuel", first
    if "interrupt" in text:
        return "interrupt", first
    if "unknown import" in text:
        return "imports", first
    return "trap", first
