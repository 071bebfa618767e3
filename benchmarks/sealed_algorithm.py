"""What sealing its bid inside the jail costs a submitted algorithm (``serve --sealed``).

    PYTHONPATH=src python benchmarks/sealed_algorithm.py [--repeats 15] [--wasm]

One algorithm that submits an empty block with a fixed bid at once, run through
``run_algorithms`` (jail, slot message, submit, reap, clean up) alternately as a plain
run and as a sealed run (the slot carries three committee keys; ``mevseal`` seals the
bid to them in the jail; the host's accept only stores the output), and as a sealed run
without the compiled Keccak bound into the jail (``mevseal``'s pure-Python fallback: the
code before issue 13's fix). Medians of N each, in the same run, and their differences:
the sealing's own cost. ``--wasm``: the same for a wasm module that submits at once (in
a sealed slot it runs in its own jail, under ``guest/wasmhost.py``). Each kind also with
its jail started ahead (sandbox/warm.py, then a pause for it to boot): the timed call is
then what is left on the deadline's critical path.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from unittest import mock

from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.privacy import envelope, field, messages
from mevauction.sandbox import jail
from mevauction.sandbox.jail import Limits, Program
from mevauction.sandbox.protocol import Sealing
from mevauction.sandbox.runner import run_algorithms
from mevauction.sandbox.warm import WarmJails

BID = b"import mevalgo\nmevalgo.run(lambda slot, sim: ([], 123456789))\n"
BID_WAT = """(module (import "mev" "submit" (func $submit (param i32 i32 i32)))
  (memory (export "memory") 1) (data (i32.const 64) "\\15\\cd\\5b\\07")
  (func (export "build") (result i32) (call $submit (i32.const 0) (i32.const 0) (i32.const 64)) (i32.const 0)))"""
BOOT_S = 0.6  # a warm jail's boot (for wasm: importing wasmtime, compiling) at load ≈ 7


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--wasm", action="store_true", help="a wasm module instead of a Python script")
    args = ap.parse_args()
    if args.wasm:
        import wasmtime

        program = Program("wasm", wasmtime.wat2wasm(BID_WAT))
    else:
        program = Program("python", BID)
    world = parse_scenario(workloads.generate("amm", 40, 1, builders=[])).world
    ids = list(world.orders)
    members = [envelope.public_key(messages.new_key()) for _ in range(3)]
    context = {"auction": "slot-1-bench", "label": messages.address(messages.new_key()), "members": members,
               "threshold": 1, "bits": 128, "modulus": field.modulus_for(128)}
    times: dict[str, list[float]] = {"plain": [], "sealed": [], "sealed, pure-Python keccak": [],
                                     "plain, warm": [], "sealed, warm": []}
    limits = Limits(budget_ms=3000)
    for _ in range(args.repeats):
        for kind in times:
            sealed = kind.startswith("sealed")
            sealing = {"a": Sealing(context, lambda out: None)} if sealed else None
            no_c = mock.patch.object(jail, "keccak_library", lambda: None)
            warm = WarmJails({"a": program}, limits, sealed) if kind.endswith("warm") else None
            if warm is not None:
                time.sleep(BOOT_S)
            with no_c if kind.endswith("keccak") else contextlib.nullcontext(), warm or contextlib.nullcontext():
                start = time.perf_counter()
                runs = run_algorithms(world, [("a", program)], ids, limits, sealing, warm=warm)
                times[kind].append((time.perf_counter() - start) * 1000)
            assert runs["a"].submission is not None, runs["a"]
            assert (runs["a"].submission.sealed is not None) == sealed
            assert runs["a"].warm == (warm is not None and (sealed or program.runtime == "python"))
    plain, sealed_ms, slow, plain_warm, sealed_warm = (statistics.median(v) for v in times.values())
    what = "wasm module" if args.wasm else "Python script"
    print(f"{what}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, medians of {args.repeats}:")
    print(f"  plain run {plain:.1f} ms, sealed run {sealed_ms:.1f} ms, sealed with the pure-Python keccak "
          f"{slow:.1f} ms: sealing adds {sealed_ms - plain:.1f} ms (pure-Python keccak: {slow - plain:.1f} ms)")
    print(f"  jail started ahead (warm), the deadline's critical path: plain {plain_warm:.1f} ms, sealed "
          f"{sealed_warm:.1f} ms ({sealed_ms / sealed_warm:.1f}× faster than cold sealed; "
          f"sealing adds {sealed_warm - plain_warm:.1f} ms)")


if __name__ == "__main__":
    main()
