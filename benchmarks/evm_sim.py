"""Benchmark the evm world (issue 3 targets).

1. Top-of-block simulation with read/write capture: every order of a generated
   slot run alone on the parent state, journal parsed into its access set
   (target ≥ 5,000 orders/s on one core).
2. The default algorithm with counterfactual refunds (Boost+ steps 0–2) on a
   generated 200-order evm slot (target ≤ 5 s), with and without world loading.

Usage: PYTHONPATH=src python benchmarks/evm_sim.py [--orders 200] [--seeds 3] [--plot out.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from rich.console import Console
from rich.progress import track

from mevauction.intake.scenario import parse_scenario
from mevauction.mechanism.boost import run_auction
from mevauction.worlds.evm import generate
from mevauction.worlds.evm.world import from_scenario


def top_of_block_rate(world, rounds: int) -> tuple[float, float]:
    """(orders/s with capture, orders/s push+pop without capture)."""
    ids = list(world.orders)
    start = time.perf_counter()
    for _ in range(rounds):
        for oid in ids:
            world.simulate_top(oid)
    capture = rounds * len(ids) / (time.perf_counter() - start)
    cur = world.cursor()
    start = time.perf_counter()
    for _ in range(rounds):
        for oid in ids:
            cur.push(oid)
            cur.pop()
    plain = rounds * len(ids) / (time.perf_counter() - start)
    return capture, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--plot", default=None, help="write a PNG of the figures")
    args = parser.parse_args()
    console = Console()
    rows = []
    for seed in track(range(args.seeds), description="evm slots", console=console):
        doc = json.loads(json.dumps(generate(args.orders, seed=seed)))
        doc["builders"] = []
        start = time.perf_counter()
        world = from_scenario(doc)
        load = time.perf_counter() - start
        capture, plain = top_of_block_rate(world, args.rounds)
        start = time.perf_counter()
        report = run_auction(parse_scenario(doc))
        total = time.perf_counter() - start
        groups = sorted((len(g) for g in report.groups), reverse=True)
        rows.append((seed, load, capture, plain, total, groups[:5], report.default.value))
        console.print(f"seed {seed}: load+top-of-block {load:.3f} s; capture {capture:,.0f} orders/s; "
                      f"push/pop {plain:,.0f} orders/s; default+refunds (incl. load) {total:.2f} s; "
                      f"largest groups {groups[:5]}; β0 {report.default.value / 1e18:.4f} ETH")
    med = lambda i: statistics.median(r[i] for r in rows)  # noqa: E731
    console.print(f"[bold]median over {len(rows)} slots of {args.orders} orders:[/bold] "
                  f"capture {med(2):,.0f} orders/s (target ≥ 5,000); push/pop {med(3):,.0f} orders/s; "
                  f"default+refunds {med(4):.2f} s (target ≤ 5 s)")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
        a.bar([str(r[0]) for r in rows], [r[2] for r in rows], label="with capture")
        a.axhline(5000, color="red", ls="--", label="target")
        a.set(title="top-of-block simulation", xlabel="seed", ylabel="orders/s")
        a.legend()
        b.bar([str(r[0]) for r in rows], [r[4] for r in rows])
        b.axhline(5, color="red", ls="--")
        b.set(title=f"default + refunds, {args.orders} orders", xlabel="seed", ylabel="seconds")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        console.print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
