"""What sealing its bid inside the jail costs a submitted algorithm (``serve --sealed``).

    PYTHONPATH=src python benchmarks/sealed_algorithm.py [--repeats 15]

One algorithm that submits an empty block with a fixed bid at once, run through
``run_algorithms`` (jail, slot message, submit, reap, clean up) alternately as a plain
run and as a sealed run (the slot carries three committee keys; ``mevseal`` seals the
bid to them in the jail; the host's accept only stores the output), and as a sealed run
without the compiled Keccak bound into the jail (``mevseal``'s pure-Python fallback: the
code before issue 13's fix). Medians of N each, in the same run, and their differences:
the sealing's own cost.
"""

from __future__ import annotations

import argparse
import contextlib
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

BID = b"import mevalgo\nmevalgo.run(lambda slot, sim: ([], 123456789))\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    world = parse_scenario(workloads.generate("amm", 40, 1, builders=[])).world
    ids = list(world.orders)
    members = [envelope.public_key(messages.new_key()) for _ in range(3)]
    context = {"auction": "slot-1-bench", "label": messages.address(messages.new_key()), "members": members,
               "threshold": 1, "bits": 128, "modulus": field.modulus_for(128)}
    times: dict[str, list[float]] = {"plain": [], "sealed": [], "sealed, pure-Python keccak": []}
    for _ in range(args.repeats):
        for kind in times:
            sealing = {"a": Sealing(context, lambda out: None)} if kind != "plain" else None
            no_c = mock.patch.object(jail, "keccak_library", lambda: None)
            with no_c if kind.endswith("keccak") else contextlib.nullcontext():
                start = time.perf_counter()
                runs = run_algorithms(world, [("a", Program("python", BID))], ids, Limits(budget_ms=3000), sealing)
                times[kind].append((time.perf_counter() - start) * 1000)
            assert runs["a"].submission is not None, runs["a"]
            assert (runs["a"].submission.sealed is not None) == (kind != "plain")
    plain, sealed, slow = (statistics.median(v) for v in times.values())
    print(f"plain run {plain:.1f} ms, sealed run {sealed:.1f} ms, sealed with the pure-Python keccak "
          f"{slow:.1f} ms (medians of {args.repeats}): sealing adds {sealed - plain:.1f} ms "
          f"(pure-Python keccak: {slow - plain:.1f} ms)")


if __name__ == "__main__":
    main()
