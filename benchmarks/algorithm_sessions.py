"""Where a jailed algorithm's time goes: the host lock, the world, the host threads, the jails.

    PYTHONPATH=src python benchmarks/algorithm_sessions.py [--world evm] [--orders 400] [--budget-ms 1000]

Measure only (issue 13: jailed sessions on the evm world get few requests). The eight
reference scripts of ``benchmarks/algorithms.py`` (2 template, 3 greedy-with-lookahead,
3 local search) run at once on one generated slot, in jails started ahead (the
service's path), and, for comparison in the same run, one local search alone and one
greedy-with-lookahead alone. Every request is timed in the host (the session's
``request`` wrapped, the host lock replaced by a timing one):

- *wait*: time a request waited for the host lock (other sessions holding it);
- *held*: time it held the lock — the world's own work (push, pop, simulate, and the
  replay of a session's stack when another session's cursor superseded its own);
- *host CPU*: the CPU time of the host thread while it served the request, and of the
  time it was off the CPU, how much it sat runnable in the kernel's run queue
  (``/proc/thread-self/schedstat``: the cores were taken) — the rest it slept (waiting
  for the GIL, or blocked);
- per run: requests, wall until it submitted, and the rest of its wall (its own
  compute in the jail, the pipe, its thread waiting for the GIL to read and reply).

Beside them: the CPU of the whole step (this process; the jails, from RUSAGE_CHILDREN
once they are reaped) against the cores × the step's wall. ``--switch-ms``: the eight
again with the interpreter's thread switch interval (``sys.setswitchinterval``, 5 ms
by default) set to each value, alternating, ``--repeats`` times: a thread whose pipe
has a request waits for the GIL up to that interval while another runs Python, so if
the sessions are bound by the GIL, their requests follow the interval.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.sandbox import protocol
from mevauction.sandbox.jail import Limits, Program, guest_file, wait_teardown
from mevauction.sandbox.runner import run_algorithms
from mevauction.sandbox.warm import WarmJails

ROOT = Path(__file__).resolve().parents[1]


class TimedLock:
    """The host lock, timed: how long each acquisition waited."""

    def __init__(self) -> None:
        self.inner = threading.Lock()
        self.local = threading.local()

    def __enter__(self) -> TimedLock:
        t = time.perf_counter()
        self.inner.acquire()
        self.local.wait = time.perf_counter() - t
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.release()


STATS: dict[int, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
real_request = protocol.Session.request


def _queued() -> float:
    """Seconds this thread has waited runnable on a run queue (Linux schedstat), else 0."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def timed_request(self: protocol.Session, msg: dict[str, Any]) -> Any:
    op = str(msg.get("op"))
    t, c, q = time.perf_counter(), time.thread_time(), _queued()
    try:
        return real_request(self, msg)
    finally:
        total, cpu = time.perf_counter() - t, time.thread_time() - c
        STATS[id(self)]["queued"] += _queued() - q
        s = STATS[id(self)]
        wait = getattr(self.host.lock.local, "wait", 0.0) if op in ("push", "pop", "simulate") else 0.0
        s["wait"] += wait
        s["held"] += total - wait
        s["cpu"] += cpu
        s[f"n_{op}"] += 1
        s[f"held_{op}"] += total - wait


def run(world: Any, programs: list[tuple[str, Program]], ids: list[str], limits: Limits) -> dict[str, Any]:
    STATS.clear()
    real_init = protocol.WorldHost.__init__

    def init(self: protocol.WorldHost, *a: Any) -> None:
        real_init(self, *a)
        self.lock = TimedLock()  # type: ignore[assignment]
    protocol.WorldHost.__init__ = init  # type: ignore[method-assign]
    protocol.Session.request = timed_request  # type: ignore[method-assign]
    made: list[int] = []  # the sessions, in the order of ``programs`` (the runner makes them so)
    real_session_init = protocol.Session.__init__

    def session_init(self: protocol.Session, *a: Any, **k: Any) -> None:
        real_session_init(self, *a, **k)
        made.append(id(self))
    protocol.Session.__init__ = session_init  # type: ignore[method-assign]
    try:
        with WarmJails(dict(programs), limits) as warm:
            time.sleep(1.5)  # the jails boot
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            t, c = time.perf_counter(), time.process_time()
            runs = run_algorithms(world, programs, ids, limits, evaluate=world.evaluate, warm=warm)
            wall, host_cpu = time.perf_counter() - t, time.process_time() - c
        assert wait_teardown()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        protocol.WorldHost.__init__ = real_init  # type: ignore[method-assign]
        protocol.Session.request = real_request  # type: ignore[method-assign]
        protocol.Session.__init__ = real_session_init  # type: ignore[method-assign]
    jails_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    stats = {rid: STATS.get(sid, {}) for (rid, _), sid in zip(programs, made, strict=True)}
    return {"runs": runs, "stats": stats, "wall": wall, "host_cpu": host_cpu, "jails_cpu": jails_cpu}


def report(label: str, out: dict[str, Any]) -> None:
    wall = out["wall"]
    share = (out["host_cpu"] + out["jails_cpu"]) / (wall * (os.cpu_count() or 1))
    print(f"{label}: step {wall * 1000:.0f} ms; CPU host {out['host_cpu'] * 1000:.0f} ms + jails "
          f"{out['jails_cpu'] * 1000:.0f} ms = {share:.0%} of {os.cpu_count()} cores × the step")
    stats = out["stats"]
    held = sum(s.get("held", 0.0) for s in stats.values())
    print(f"  host lock held {held * 1000:.0f} ms in all ({held / wall:.0%} of the step), "
          f"waited for {sum(s.get('wait', 0.0) for s in stats.values()) * 1000:.0f} ms in all; "
          f"CPU while in the host {sum(s.get('cpu', 0.0) for s in stats.values()) * 1000:.0f} ms, runnable but "
          f"not running {sum(s.get('queued', 0.0) for s in stats.values()) * 1000:.0f} ms")
    ops: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for s in stats.values():
        for k, v in s.items():
            if k.startswith("n_"):
                ops[k[2:]][0] += v
                ops[k[2:]][1] += s.get("held_" + k[2:], 0.0)
    print("  per op: " + ", ".join(f"{op} {int(n)} × {t / n * 1000:.2f} ms" for op, (n, t) in sorted(ops.items()) if n))
    for rid, r in out["runs"].items():
        s = stats[rid]
        in_host = s.get("held", 0.0) + s.get("wait", 0.0)
        print(f"  {rid:20s} {r.requests:5d} requests, wall {r.wall_ms:5.0f} ms: held {s.get('held', 0) * 1000:5.0f}"
              f" (CPU {s.get('cpu', 0) * 1000:4.0f}), waited {s.get('wait', 0) * 1000:5.0f}, rest (jail, pipe, "
              f"GIL) {max(0.0, r.wall_ms - in_host * 1000):5.0f} ms; {'submitted' if r.submission else r.reason}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", choices=("amm", "evm"), default="evm")
    ap.add_argument("--orders", type=int, default=400)
    ap.add_argument("--budget-ms", type=int, default=1000)
    ap.add_argument("--switch-ms", type=float, nargs="*", default=[5.0, 0.5])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    world = parse_scenario(workloads.generate(args.world, args.orders, 7, builders=[])).world
    from mevauction.mechanism.boost import AuctionInput, run_auction

    rest = [i for i in world.orders if i not in set(run_auction(AuctionInput(world, (), 0)).conflict_free)]
    code = {"template": guest_file("template.py"),
            "greedy_lookahead": (ROOT / "examples/algorithms/greedy_lookahead.py").read_bytes(),
            "local_search": (ROOT / "examples/algorithms/local_search.py").read_bytes()}
    names = ["template"] * 2 + ["greedy_lookahead"] * 3 + ["local_search"] * 3
    limits = Limits(budget_ms=args.budget_ms)
    print(f"{args.world} world, {args.orders} orders ({len(rest)} in M \\ S), budget {args.budget_ms} ms, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    eight = [(f"{n}-{k}", Program("python", code[n])) for k, n in enumerate(names)]
    for label, progs in (("local search alone", [("local_search", Program("python", code["local_search"]))]),
                         ("greedy lookahead alone", [("greedy_lookahead",
                                                      Program("python", code["greedy_lookahead"]))]),
                         ("8 at once", eight)):
        report(label, run(world, progs, rest, limits))
    default = sys.getswitchinterval()
    per: dict[float, list[list[int]]] = {ms: [] for ms in args.switch_ms}
    try:
        for _ in range(args.repeats):
            for ms in args.switch_ms:
                sys.setswitchinterval(ms / 1000)
                out = run(world, eight, rest, limits)
                per[ms].append([r.requests for r in out["runs"].values()])
    finally:
        sys.setswitchinterval(default)
    for ms, rounds in per.items():
        flat = [n for r in rounds for n in r]
        print(f"switch interval {ms} ms: requests per algorithm median {statistics.median(flat):.0f} "
              f"(per round: {', '.join(str(sum(r)) for r in rounds)} in all), load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
