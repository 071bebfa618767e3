"""Every submitted algorithm of a slot, in parallel, within one wall-clock budget.

Each algorithm gets its own jail and a host thread that answers its requests on the
slot's world. At the deadline every jail still running is killed; what did not
submit by then is reported with its reason. The call returns within the budget plus
the time to kill and reap the jails (milliseconds): a hostile algorithm can waste
its own budget, never the auction's.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mevauction.sandbox.jail import Jailed, Limits, Program, jail_problem, teardown_later, wasm_jail_problem
from mevauction.sandbox.protocol import (
    MAX_LINE,
    Aborted,
    ProtocolViolation,
    Sealing,
    Session,
    Submission,
    WorldHost,
    slot_message,
    slot_orders,
)
from mevauction.sandbox.warm import WarmJails, jailed_in
from mevauction.sandbox.wasm import FAILURES, WasmRun, engine, reason, start_ticker, wasm_problem
from mevauction.worlds.base import World


@dataclass(slots=True)
class RunResult:
    """One algorithm's run: its submission, or why there is none; what it used."""

    id: str
    submission: Submission | None = None
    reason: str | None = None
    wall_ms: float = 0.0  # from its start to its submission (or to its end)
    requests: int = 0
    # The end of its stderr: for the operator and the builder's own check, never in a report.
    stderr: str = ""
    # What the reason's kind leaves out (a violation's details, an exit status, a stderr
    # line): for the builder's own check, never in a report — the algorithm chose it
    # after seeing M \ S, so a report carrying it would be a channel out of the jail.
    detail: str = ""
    # What the caller's ``evaluate`` made of the submitted sequence, computed on the
    # serving thread as soon as it arrived (inside the budget, beside the runs still going).
    evaluated: object = None
    # It ran in a jail started before the deadline (sandbox/warm.py), not one started in its budget.
    warm: bool = False

    def to_json(self) -> dict[str, object]:
        return {"wall_ms": round(self.wall_ms, 1), "requests": self.requests}


class _Run:
    def __init__(self, rid: str, program: Program, host: WorldHost, limits: Limits, slot: bytes,
                 wasm_engine: Any = None, sealing: Sealing | None = None,
                 evaluate: Callable[[Sequence[str]], object] | None = None, warm: WarmJails | None = None):
        self.result = RunResult(rid)
        self.warm = warm
        self.evaluate = evaluate
        self.limits = limits
        self.sealing = sealing
        self.session = Session(host, None if sealing is None else len(sealing.context["members"]))
        self.slot = slot
        self.started = time.monotonic()
        self.jail: Jailed | None = None
        self.wasm: WasmRun | None = None
        self.over_limit: str | None = None
        self.closed = False  # finish() has run: a jail that starts after it must not run
        self.guard = threading.Lock()
        self.program = program
        if program.runtime == "wasm":
            problem = wasm_problem()
            if problem:
                self.result.reason = f"sandbox unavailable: {problem}"
                return
        if program.runtime == "wasm" and sealing is None:
            try:
                self.wasm = WasmRun(wasm_engine, program, self.session, host.order,
                                    limits)
            except Exception as exc:  # wasmtime refuses the bytes: not a module, or a bad one
                self.result.reason = f"not a valid wasm module: {str(exc).strip().splitlines()[0][:200]}"
                return
            self.thread = threading.Thread(target=self.wasm.run, args=(wasm_engine,), daemon=True,
                                           name=f"algorithm-{rid}")
            return
        if program.runtime not in ("python", "wasm"):
            self.result.reason = f"runtime {program.runtime!r} is not available"
            return
        # A Python script, or a wasm module in a sealed slot: it runs in the jail, where its
        # bid is sealed before it leaves (a module the host ran would show it its bid).
        self.thread = threading.Thread(target=self._spawn_and_serve, daemon=True, name=f"algorithm-{rid}")

    def _spawn_and_serve(self) -> None:
        # The jail is started from this thread, which lives as long as the run: bwrap's
        # --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that
        # started it exits (a spawning pool's worker would kill its jails on shutdown).
        # Starting here also lets the jails of a slot start in parallel.
        sealed = self.sealing is not None
        # A jail started before the deadline for exactly this run (sandbox/warm.py), else a new one.
        claimed = self.warm.claim(self.result.id, self.program, self.limits, sealed) if self.warm else None
        self.result.warm = claimed is not None
        try:
            jail = claimed or Jailed(self.program, self.limits, sealed=sealed)
        except OSError as exc:
            self.result.reason = f"sandbox failed to start: {exc}"
            return
        with self.guard:
            if self.closed:  # the deadline passed while it started: it never runs
                jail.kill()
                jail.reap()
                jail.cleanup()
                return
            self.jail = jail
        self._serve()

    def _serve(self) -> None:
        assert self.jail is not None
        proc = self.jail.proc
        assert proc.stdin is not None and proc.stdout is not None
        out_bytes = 0
        try:
            proc.stdin.write(self.slot)
            proc.stdin.flush()
            while True:
                line = proc.stdout.readline(MAX_LINE + 1)
                if not line:
                    return  # exited (or killed): the reason comes from its status
                out_bytes += len(line)
                if out_bytes > self.limits.output_bytes:
                    self.over_limit = f"output limit: more than {self.limits.output_bytes} bytes on stdout"
                    return
                if not line.endswith(b"\n"):
                    self.over_limit = f"request line longer than {MAX_LINE} bytes"
                    return
                reply, sub = self.session.handle(line)
                if sub is not None:
                    self.result.submission = sub
                    self.result.wall_ms = (time.monotonic() - self.started) * 1000
                    self.jail.kill()  # nothing it does afterwards can matter
                    self._evaluate(sub)
                    return
                proc.stdin.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
                proc.stdin.flush()
        except ProtocolViolation as exc:
            self.over_limit = "protocol violation"
            self.result.detail = str(exc)
        except Aborted as exc:  # a module's failure, as its jailed host program saw it
            wasm = self.program.runtime == "wasm" and exc.kind in FAILURES
            self.over_limit = reason(str(exc.kind), "", self.limits) if wasm else "protocol violation"
            self.result.detail = f"aborted: {str(exc.kind)[:40]}"
        except (BrokenPipeError, ValueError, OSError):
            return  # its pipes went away: it exited or was killed
        finally:
            # Killed as soon as it has submitted: nothing it does afterwards can matter.
            self.jail.kill()

    def _evaluate(self, sub: Submission) -> None:
        if self.evaluate is None:
            return
        host = self.session.host
        with host.lock:
            try:
                self.result.evaluated = self.evaluate(sub.sequence)
            except Exception:  # an unknown id, say: the mechanism's own check reports it
                self.result.evaluated = None
            # The evaluation opened its own cursor: every session rebuilds its own.
            host.live_owner = None

    def finish(self, timed_out: bool) -> RunResult:
        """Reap the jail and say what happened (called after the deadline or the thread's end)."""
        res = self._finish(timed_out)
        sub = res.submission
        if sub is not None and sub.sealed is not None and self.sealing is not None:
            refused = self.sealing.accept(sub.sealed)
            if refused:
                res.submission, res.reason = None, f"sealed bid refused: {refused}"
        return res

    def _finish(self, timed_out: bool) -> RunResult:
        res = self.result
        if self.wasm is not None:
            self.thread.join(timeout=1.0)  # the epoch deadline has interrupted it by now
            res.wall_ms = ((self.wasm.ended or time.monotonic()) - self.started) * 1000
            res.requests = self.session.requests
            if self.wasm.submission is not None and not timed_out:
                res.submission = self.wasm.submission
            else:
                res.reason = (f"timeout: no submission within the {self.limits.budget_ms} ms budget"
                              if timed_out or self.thread.is_alive() else self.wasm.reason)
            return res
        with self.guard:
            self.closed = True
        jail = self.jail
        if jail is None:
            if res.reason is None and res.submission is None:
                res.reason = f"timeout: the sandbox did not start within the {self.limits.budget_ms} ms budget"
            return res
        jail.kill()
        self.thread.join(timeout=1.0)
        if not res.wall_ms:
            res.wall_ms = (time.monotonic() - self.started) * 1000
        res.requests = self.session.requests
        res.stderr = jail.stderr_tail(lines=40)
        if res.submission is not None or timed_out:
            # Its exit status says nothing the result needs (a late run's reason is its
            # lateness, or a limit it broke): waiting for the killed jail and removing its
            # directory happen off the auction's critical path.
            if res.submission is None and res.reason is None:
                res.reason = self._reason(timed_out, jail)
            teardown_later(jail)
            return res
        jail.reap()
        if res.reason is None:
            res.reason = self._reason(timed_out, jail)
        jail.cleanup()
        return res

    def _reason(self, timed_out: bool, jail: Jailed) -> str:
        if self.over_limit:
            return self.over_limit
        if timed_out:
            return f"timeout: no submission within the {self.limits.budget_ms} ms budget"
        status = jail.status or 0
        tail = jail.stderr_tail()
        # bwrap exits 128 + n when the algorithm dies of signal n.
        sig = status - 128 if status > 128 else -status if status < 0 else 0
        self.result.detail = f"exit status {status}: {tail or 'no stderr'}"
        if sig in (signal.SIGXCPU, signal.SIGKILL) and "MemoryError" not in tail:
            return f"CPU limit ({self.limits.cpu_seconds} s) or killed"
        if "MemoryError" in tail:
            return f"memory limit ({self.limits.memory_bytes} bytes)"
        if status == 0:
            return "exited without submitting"
        return "crashed"


# The share of the budget kept for what comes after the runs (see run_algorithms).
HOST_MARGIN = 0.1


def run_algorithms(world: World, programs: Sequence[tuple[str, Program]], order_ids: Sequence[str],
                   limits: Limits | None = None, sealing: Mapping[str, Sealing] | None = None,
                   evaluate: Callable[[Sequence[str]], object] | None = None,
                   warm: WarmJails | None = None) -> dict[str, RunResult]:
    """Run every program on M \\ S in parallel; return within the wall-clock budget.

    ``sealing`` (a sealed slot): per program, what it seals its bid to; each such run
    gets its own slot message and must submit envelopes, not an amount. ``evaluate``:
    called on each submitted sequence as soon as it arrives (world access serialised
    with the runs), its value kept as the run's ``evaluated``. ``warm``: the slot's jails
    started ahead (sandbox/warm.py); a run takes the one started for it, if any."""
    sealing = sealing or {}
    limits = limits or Limits()
    def jailed(rid: str, prog: Program) -> bool:
        return jailed_in(prog, rid in sealing)
    problem = jail_problem() if any(jailed(rid, p) for rid, p in programs) else None
    wasm_jail = wasm_jail_problem() if any(p.runtime == "wasm" and jailed(rid, p) for rid, p in programs) else None
    host = WorldHost(world, order_ids)
    start = time.monotonic()
    # The runs end a margin before the budget: what follows them (the mechanism's checks,
    # the last kills, the report) then fits inside it, so the auction's deadline-to-result
    # grows by no more than the budget. The jails are told this deadline, not the budget's.
    run_s = limits.budget_ms * (1 - HOST_MARGIN) / 1000
    deadline = start + run_s
    orders = slot_orders(host)
    slot = slot_message(world, orders, limits.budget_ms, deadline)
    in_process = any(p.runtime == "wasm" and not jailed(rid, p) for rid, p in programs)
    wasm_engine = engine() if in_process and wasm_problem() is None else None
    ticker = start_ticker(wasm_engine, run_s) if wasm_engine is not None else None
    runs = []
    for rid, prog in programs:
        unavailable = (wasm_jail if prog.runtime == "wasm" else problem) if jailed(rid, prog) else None
        if unavailable is not None:
            runs.append(_Run(rid, Program("unavailable", b""), host, limits, slot))
            runs[-1].result.reason = f"sandbox unavailable: {unavailable}"
        else:
            own = sealing.get(rid)
            message = slot if own is None else slot_message(world, orders, limits.budget_ms, deadline, own.context)
            runs.append(_Run(rid, prog, host, limits, message, wasm_engine, own, evaluate, warm))
    live = [r for r in runs if r.result.reason is None]
    for r in live:
        r.thread.start()
    for r in live:
        r.thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if ticker is not None and wasm_engine is not None:
        ticker.cancel()
        wasm_engine.increment_epoch()  # interrupt any module still running
    timed_out = {r.result.id for r in live if r.thread.is_alive()}
    for r in live:  # every late jail is killed before any is waited for
        if r.jail is not None:
            r.jail.kill()
    return {r.result.id: r.finish(timed_out=r.result.id in timed_out) for r in runs}
