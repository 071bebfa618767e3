"""Deadline-to-result latency of the two-party double auction (garbled circuit) beside the
3-party MPC committee's ``double``, on the same random curves in the same run.

A market is B buyers × S sellers over G public price levels (``--shapes BxSxG``, default
the issue's 64×64 at 256). Each trader has a few steps at random levels with random
quantities below 2^30 (so the two sides cross inside the grid). The same market goes to:

- ``2pc close``: a local pair (garbler, evaluator; mutual TLS; started once); the
  evaluator's share bits of every curve value and the garbler's labels move after the
  deadline, inside the measured time; base OTs, the IKNP extension and the garbling of the
  whole circuit (validation of every curve, both sides' totals, the clearing level, the
  quantities) are preprocessing, before it;
- ``2pc intake``: the same, with the input labels moved before the deadline (as a
  streaming intake would per trader);
- ``mpc``: a local 3-server committee (``run_on``), unless ``--no-mpc``.

Every result is checked against the plaintext twin (``mechanisms.clear_double``).

    PYTHONPATH=src python benchmarks/sealed_2pc_double.py --shapes 64x64x256 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mevauction.privacy import mechanisms as M
from mevauction.privacy.twoparty import double as D
from mevauction.privacy.twoparty.local import LocalPair, run_double


def market(rng: random.Random, buyers: int, sellers: int, levels: int):
    """(grid, sides, steps per level): buyers' steps mostly high, sellers' mostly low, so they cross."""
    grid = [10**15 * (g + 1) for g in range(levels)]
    sides = ["buy"] * buyers + ["sell"] * sellers
    steps = []
    for side in sides:
        inc = [0] * levels
        for _ in range(rng.randint(1, 4)):
            centre = 0.6 if side == "buy" else 0.4
            g = min(levels - 1, max(0, int(rng.gauss(centre, 0.2) * levels)))
            inc[g] += rng.randrange(1, 1 << 30)
        steps.append(inc)
    return grid, sides, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=["64x64x256"], help="BUYERSxSELLERSxLEVELS")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-mpc", action="store_true", help="skip the 3-party committee baseline")
    ap.add_argument("--json", default="docs/benchmarks/sealed_2pc_double.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = []
    load = [os.getloadavg()[0]]
    committee = None
    if not args.no_mpc:
        from mevauction.privacy.client import LocalCommittee, SealedBid, run_on

        committee = LocalCommittee(3, timeout=1200).__enter__()
    try:
        with LocalPair(timeout=1200) as pair:
            for shape in args.shapes:
                b, s, levels = (int(x) for x in shape.split("x"))
                runs: dict[str, list[dict]] = {"2pc close": [], "2pc intake": [], "mpc": []}
                for _ in range(args.repeat):
                    grid, sides, steps = market(rng, b, s, levels)
                    clear = M.clear_double(grid, sides, steps)
                    curves = [D.curve(side, inc) for side, inc in zip(sides, steps, strict=True)]
                    for mode in ("close", "intake"):
                        t0 = time.perf_counter()
                        r = run_double(pair.chans, grid, sides, curves, inputs=mode)
                        wall = time.perf_counter() - t0
                        assert r.ok, r.reason
                        assert (r.price, r.winners, r.quantities) == (clear.price, clear.winners, clear.quantities)
                        runs[f"2pc {mode}"].append({"elapsed_s": r.elapsed_s, "preprocess_s": r.preprocess_s,
                                                    "wall_s": wall, "bytes": max(r.bytes_sent)})
                    if committee is not None:
                        sealed = [SealedBid(f"t{i:04d}", inc, side=side)
                                  for i, (side, inc) in enumerate(zip(sides, steps, strict=True))]
                        t0 = time.perf_counter()
                        res = asyncio.run(run_on(committee.access(), "double", sealed, grid=grid))
                        wall = time.perf_counter() - t0
                        assert res.ok and res.outcome["price"] == clear.price, res.reason
                        runs["mpc"].append({"elapsed_s": res.elapsed_s, "preprocess_s": res.preprocess_s,
                                            "wall_s": wall,
                                            "bytes": max(st["bytes_sent"] for st in res.statements)})
                    print(shape, {k: round(v[-1]["elapsed_s"], 3) for k, v in runs.items() if v}, flush=True)
                for name, rs in runs.items():
                    if rs:
                        el = sorted(r["elapsed_s"] for r in rs)
                        rows.append({"shape": shape, "backend": name, "median_s": statistics.median(el),
                                     "min_s": el[0], "max_s": el[-1],
                                     "preprocess_s": statistics.median(r["preprocess_s"] for r in rs),
                                     "wall_s": statistics.median(r["wall_s"] for r in rs),
                                     "bytes_per_party": max(r["bytes"] for r in rs)})
    finally:
        if committee is not None:
            committee.__exit__(None, None, None)
    load.append(os.getloadavg()[0])
    table = Table(title=f"sealed double auction, deadline → result ({args.repeat} runs each; "
                        f"load {load[0]:.1f}→{load[1]:.1f})")
    for col in ("buyers×sellers×levels", "backend", "median s", "min s", "max s", "preprocess s",
                "open → result s", "MB sent/party"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["shape"], r["backend"], f"{r['median_s']:.2f}", f"{r['min_s']:.2f}", f"{r['max_s']:.2f}",
                      f"{r['preprocess_s']:.2f}", f"{r['wall_s']:.2f}", f"{r['bytes_per_party'] / 1e6:.1f}")
    Console(width=140).print(table)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"rows": rows, "load": load, "repeat": args.repeat}, indent=1))


if __name__ == "__main__":
    main()
