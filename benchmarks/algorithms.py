"""Submitted builder algorithms: sandbox start + teardown, and 8 algorithms on a 400-order slot.

    PYTHONPATH=src python benchmarks/algorithms.py [--repeats 30] [--orders 400] [--budget-ms 1000] [--world evm]

1. Start + teardown: one algorithm that submits an empty block at once, run through
   ``run_algorithms`` (jail, slot message, submit, reap, clean up), median of N; beside
   it, the same interpreter started bare (no jail) in the same run, as the baseline.
   The same for a wasm module that submits at once (engine, compile, instantiate, run),
   and, in a sealed slot, both again: the module then runs in a jail of its own (jail,
   importing wasmtime, compile, run) and both seal their bid there to a 3-member committee.
   Each jailed kind also "warm": its jail started ahead (sandbox/warm.py, then a pause
   for it to boot), so the timed call — the deadline's critical path — only hands it the
   slot and tears it down; beside it, how long starting the jails ahead takes the caller.
2. Eight algorithms (2 template, 3 greedy-with-lookahead, 3 local search) on one
   generated slot (amm, or ``--world evm``: real contracts, where valuing a block costs
   more), all at once within the budget: how many submitted in time, the wall time of
   the whole step, and the auction's deadline-to-result with and without them
   (run_auction, same slot), i.e. how much the algorithms add.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any
from unittest import mock

from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.mechanism.boost import AuctionInput, run_auction
from mevauction.mechanism.builders import BuilderSubmission, run_programs
from mevauction.sandbox import jail
from mevauction.sandbox.jail import GUEST_PYTHON, Limits, Program, guest_file
from mevauction.sandbox.protocol import Sealing
from mevauction.sandbox.runner import run_algorithms
from mevauction.sandbox.warm import WarmJails

ROOT = Path(__file__).resolve().parents[1]
NOOP = b"import mevalgo\nmevalgo.run(lambda slot, sim: ([], 0))\n"
NOOP_WAT = """(module (import "mev" "submit" (func $submit (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "build") (result i32) (call $submit (i32.const 0) (i32.const 0) (i32.const -1)) (i32.const 0)))"""


def _sealing() -> Sealing:
    from mevauction.privacy import envelope, field, messages

    members = [envelope.public_key(messages.new_key()) for _ in range(3)]
    context = {"auction": "bench", "label": messages.address(messages.new_key()), "members": members,
               "threshold": field.threshold_for(3), "bits": 128, "modulus": field.modulus_for(128)}
    return Sealing(context, lambda out: None)


BOOT_S = 0.6  # long enough for a warm jail to import wasmtime and compile at load ≈ 7


def timed_warm(world: Any, rid: str, prog: Program, ids: list[str], sealing: dict | None,
               out: list[float], ahead: list[float]) -> None:
    """One run in a jail started ahead: ``ahead`` gets the caller's cost of starting it,
    ``out`` the run's (the critical path); the run must have used the warm jail."""
    limits = Limits(budget_ms=2000)
    t = time.perf_counter()
    warm = WarmJails({rid: prog}, limits, sealed=sealing is not None)
    ahead.append(time.perf_counter() - t)
    time.sleep(BOOT_S)
    with warm:
        t = time.perf_counter()
        res = run_algorithms(world, [(rid, prog)], ids, limits, sealing, warm=warm)
        out.append(time.perf_counter() - t)
    assert res[rid].submission is not None and res[rid].warm, res[rid]


def start_teardown(repeats: int) -> tuple[list[float], list[float], list[float]]:
    """Medians in ms: (Python jailed, bare interpreter, wasm cached, wasm compiled), in a
    sealed slot (wasm in its jail, Python in its jail), and warm (Python, sealed wasm,
    sealed Python, and the caller's cost of starting a jail ahead)."""
    import wasmtime

    world = parse_scenario(workloads.generate("amm", 20, 0)).world
    ids = list(world.orders)
    jailed, bare, wasm, first, sealed_wasm, sealed_py = [], [], [], [], [], []
    warm_py, warm_sealed_wasm, warm_sealed_py, ahead = [], [], [], []
    sealing = {"noop": _sealing()}
    noop_wasm = Program("wasm", wasmtime.wat2wasm(NOOP_WAT))
    for k in range(repeats):
        # A module never seen before (a distinct global): compiled in this run.
        fresh = Program("wasm", wasmtime.wat2wasm(NOOP_WAT[:-1] + f" (global $g{k} i32 (i32.const {k})))"))
        t = time.perf_counter()
        run_algorithms(world, [("fresh", fresh)], ids, Limits(budget_ms=2000))
        first.append(time.perf_counter() - t)
        t = time.perf_counter()
        res = run_algorithms(world, [("noop", noop_wasm)], ids, Limits(budget_ms=2000))
        wasm.append(time.perf_counter() - t)
        assert res["noop"].submission is not None, res["noop"].reason
        t = time.perf_counter()
        res = run_algorithms(world, [("noop", Program("python", NOOP))], ids, Limits(budget_ms=2000))
        jailed.append(time.perf_counter() - t)
        assert res["noop"].submission is not None, res["noop"].reason
        t = time.perf_counter()
        subprocess.run([GUEST_PYTHON, "-I", "-S", "-B", "-c", "import json"], check=True)
        bare.append(time.perf_counter() - t)
        for prog, out in ((noop_wasm, sealed_wasm), (Program("python", NOOP), sealed_py)):
            t = time.perf_counter()
            res = run_algorithms(world, [("noop", prog)], ids, Limits(budget_ms=2000), sealing)
            out.append(time.perf_counter() - t)
            assert res["noop"].submission is not None and res["noop"].submission.sealed, res["noop"].reason
        timed_warm(world, "noop", Program("python", NOOP), ids, None, warm_py, ahead)
        timed_warm(world, "noop", noop_wasm, ids, sealing, warm_sealed_wasm, ahead)
        timed_warm(world, "noop", Program("python", NOOP), ids, sealing, warm_sealed_py, ahead)
    ms = [statistics.median(x) * 1000 for x in (jailed, bare, wasm, first, sealed_wasm, sealed_py,
                                                warm_py, warm_sealed_wasm, warm_sealed_py, ahead)]
    return ms[:4], ms[4:6], ms[6:]


def eight(world_kind: str, orders: int, budget_ms: int) -> None:
    doc = workloads.generate(world_kind, orders, 7, builders=[])
    world = parse_scenario(doc).world
    code = {"template": guest_file("template.py"),
            "greedy_lookahead": (ROOT / "examples/algorithms/greedy_lookahead.py").read_bytes(),
            "local_search": (ROOT / "examples/algorithms/local_search.py").read_bytes()}
    names = ["template"] * 2 + ["greedy_lookahead"] * 3 + ["local_search"] * 3
    subs = [BuilderSubmission(f"{n}-{k}", None, None, None, Program("python", code[n], n))
            for k, n in enumerate(names)]
    limits = Limits(budget_ms=budget_ms)
    t = time.perf_counter()
    base = run_auction(AuctionInput(world, (), 0))
    without = time.perf_counter() - t
    t = time.perf_counter()
    report = run_auction(AuctionInput(world, subs, 0, algorithm_limits=limits))
    with_algos = time.perf_counter() - t
    rest = [i for i in world.orders if i not in set(report.conflict_free)]
    t = time.perf_counter()
    runs = run_programs(world, subs, rest, limits)
    step = time.perf_counter() - t
    in_time = [c for c in report.builders if c.valid]
    print(f"8 algorithms, {orders}-order {world_kind} slot ({len(report.default.block.orders)} in o*), "
          f"budget {budget_ms} ms, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    for c in report.builders:
        run = c.run
        print(f"  {c.id:20s} {'valid' if c.valid else 'INVALID: ' + str(c.reason)[:60]:30s} "
              f"value {c.block.value / 1e18:.6f} ETH  wall {run.wall_ms if run else 0:.0f} ms  "
              f"requests {run.requests if run else 0}")
    print(f"  default β0 {base.beta0 / 1e18:.6f} ETH; winner {report.winner}")
    print(f"  submitted in time: {len(in_time)}/8")
    print(f"  the algorithm step alone (run_programs, again): {step * 1000:.0f} ms, "
          f"{sum(r.submission is not None for r in runs.values())}/8 submitted")
    print(f"  auction without algorithms {without * 1000:.0f} ms, with {with_algos * 1000:.0f} ms: "
          f"+{(with_algos - without) * 1000:.0f} ms (budget {budget_ms} ms)")
    # The same step in a sealed slot (each bid sealed in its jail; again with mevseal's
    # pure-Python keccak, no compiled one bound: the code before issue 13's fix), and 8
    # copies of the reference wasm module in-process vs each in its jail under sealing.
    module = (ROOT / "examples/algorithms/wasm/greedy.wasm").read_bytes()
    wasm_subs = [BuilderSubmission(f"greedy.wasm-{k}", None, None, None, Program("wasm", module)) for k in range(8)]
    for label, group in (("the 8 scripts", subs), ("8 greedy.wasm", wasm_subs)):
        for kind in ("plain", "plain, warm jails", "sealed (in jails)", "sealed, warm jails", "sealed, py keccak"):
            sealing = None if kind.startswith("plain") else {b.id: _sealing() for b in group}
            no_c = mock.patch.object(jail, "keccak_library", lambda: None)
            warm = None
            if kind.endswith("warm jails"):  # started ahead, as the service does before the deadline
                warm = WarmJails({b.id: b.program for b in group if b.program}, limits, sealed=sealing is not None)
                time.sleep(BOOT_S * 2)
            with no_c if kind.endswith("keccak") else contextlib.nullcontext(), warm or contextlib.nullcontext():
                t = time.perf_counter()
                runs = run_programs(world, group, rest, limits, sealing, warm)
                took = time.perf_counter() - t
            print(f"  {label}, {kind:18s}: step {took * 1000:.0f} ms, "
                  f"{sum(r.submission is not None for r in runs.values())}/8 submitted"
                  + (f" ({sum(r.warm for r in runs.values())} in warm jails)" if warm else "")
                  + f", median requests {statistics.median(r.requests for r in runs.values()):.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--orders", type=int, default=400)
    ap.add_argument("--budget-ms", type=int, default=1000)
    ap.add_argument("--world", choices=("amm", "evm"), default="amm")
    ap.add_argument("--skip-start", action="store_true", help="only the eight-algorithm slot")
    args = ap.parse_args()
    if args.skip_start:
        eight(args.world, args.orders, args.budget_ms)
        return
    (jailed, bare, wasm, first), (sealed_wasm, sealed_py), (w_py, w_wasm, w_sealed_py, ahead) = \
        start_teardown(args.repeats)
    print(f"sandbox start + teardown (Python, median of {args.repeats}): {jailed:.1f} ms jailed run "
          f"(target ≤ 50 ms); bare interpreter start {bare:.1f} ms; ratio {jailed / bare:.2f}×")
    print(f"sandbox start + teardown (wasm, median of {args.repeats}): {wasm:.1f} ms (target ≤ 10 ms) for a module "
          f"run before (compiled code cached); {first:.1f} ms for a module never seen (Cranelift compile)")
    print(f"sealed slot (median of {args.repeats}, bid sealed in the jail): wasm module in its jail "
          f"{sealed_wasm:.1f} ms ({sealed_wasm / wasm:.1f}× the in-process cached run); "
          f"Python script {sealed_py:.1f} ms; "
          f"wasm − Python {sealed_wasm - sealed_py:+.1f} ms (importing wasmtime, compiling)")
    print(f"warm jails (started ahead; median of {args.repeats}), the deadline's critical path: Python "
          f"{w_py:.1f} ms (cold {jailed:.1f}, target ≤ 50 ms); sealed wasm {w_wasm:.1f} ms (cold {sealed_wasm:.1f}, "
          f"target ≤ 10 ms); sealed Python {w_sealed_py:.1f} ms (cold {sealed_py:.1f}); starting one ahead "
          f"costs its caller {ahead:.1f} ms")
    eight(args.world, args.orders, args.budget_ms)


if __name__ == "__main__":
    main()
