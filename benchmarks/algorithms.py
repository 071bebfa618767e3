"""Submitted builder algorithms: sandbox start + teardown, and 8 algorithms on a 400-order slot.

    PYTHONPATH=src python benchmarks/algorithms.py [--repeats 30] [--orders 400] [--budget-ms 1000] [--world evm]

1. Start + teardown: one algorithm that submits an empty block at once, run through
   ``run_algorithms`` (jail, slot message, submit, reap, clean up), median of N; beside
   it, the same interpreter started bare (no jail) in the same run, as the baseline.
   The same for a wasm module that submits at once (engine, compile, instantiate, run),
   and, in a sealed slot, both again: the module then runs in a jail of its own (jail,
   importing wasmtime, compile, run) and both seal their bid there to a 3-member committee.
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
from unittest import mock

from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.mechanism.boost import AuctionInput, run_auction
from mevauction.mechanism.builders import BuilderSubmission, run_programs
from mevauction.sandbox import jail
from mevauction.sandbox.jail import GUEST_PYTHON, Limits, Program, guest_file
from mevauction.sandbox.protocol import Sealing
from mevauction.sandbox.runner import run_algorithms

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


def start_teardown(repeats: int) -> tuple[list[float], list[float]]:
    """Medians in ms: (Python jailed, bare interpreter, wasm cached, wasm compiled), and
    in a sealed slot (wasm in its jail, Python in its jail)."""
    import wasmtime

    world = parse_scenario(workloads.generate("amm", 20, 0)).world
    ids = list(world.orders)
    jailed, bare, wasm, first, sealed_wasm, sealed_py = [], [], [], [], [], []
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
    ms = [statistics.median(x) * 1000 for x in (jailed, bare, wasm, first, sealed_wasm, sealed_py)]
    return ms[:4], ms[4:]


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
        for kind in ("plain", "sealed (in jails)", "sealed, py keccak"):
            sealing = None if kind == "plain" else {b.id: _sealing() for b in group}
            no_c = mock.patch.object(jail, "keccak_library", lambda: None)
            with no_c if kind.endswith("keccak") else contextlib.nullcontext():
                t = time.perf_counter()
                runs = run_programs(world, group, rest, limits, sealing)
                took = time.perf_counter() - t
            print(f"  {label}, {kind:17s}: step {took * 1000:.0f} ms, "
                  f"{sum(r.submission is not None for r in runs.values())}/8 submitted")


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
    (jailed, bare, wasm, first), (sealed_wasm, sealed_py) = start_teardown(args.repeats)
    print(f"sandbox start + teardown (Python, median of {args.repeats}): {jailed:.1f} ms jailed run "
          f"(target ≤ 50 ms); bare interpreter start {bare:.1f} ms; ratio {jailed / bare:.2f}×")
    print(f"sandbox start + teardown (wasm, median of {args.repeats}): {wasm:.1f} ms (target ≤ 10 ms) for a module "
          f"run before (compiled code cached); {first:.1f} ms for a module never seen (Cranelift compile)")
    print(f"sealed slot (median of {args.repeats}, bid sealed in the jail): wasm module in its jail "
          f"{sealed_wasm:.1f} ms ({sealed_wasm / wasm:.1f}× the in-process cached run); "
          f"Python script {sealed_py:.1f} ms; "
          f"wasm − Python {sealed_wasm - sealed_py:+.1f} ms (importing wasmtime, compiling)")
    eight(args.world, args.orders, args.budget_ms)


if __name__ == "__main__":
    main()
