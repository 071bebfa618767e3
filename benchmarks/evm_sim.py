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
from mevauction.intake.workloads.evm import generate
from mevauction.worlds.evm.world import from_scenario


class Clock:
    """Wall-clock and CPU seconds of a block of work.

    The box is shared by several busy processes, so wall-clock rates understate
    what one core does; the CPU time of this (single-threaded) process is the
    one-core figure, and both are printed.
    """

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def top_of_block_rate(world, rounds: int) -> tuple[Clock, Clock, int]:
    """(clock of the capture runs, clock of the push+pop runs, orders run in each)."""
    ids = list(world.orders)
    with Clock() as capture:
        for _ in range(rounds):
            for oid in ids:
                world.simulate_top(oid)
    cur = world.cursor()
    with Clock() as plain:
        for _ in range(rounds):
            for oid in ids:
                cur.push(oid)
                cur.pop()
    return capture, plain, rounds * len(ids)


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
        with Clock() as load:
            world = from_scenario(doc)
        capture, plain, n = top_of_block_rate(world, args.rounds)
        with Clock() as total:
            report = parse_scenario(doc).run_auction()
        groups = sorted((len(g) for g in report.groups), reverse=True)
        rows.append((seed, load.wall, n / capture.cpu, n / plain.cpu, total.cpu, groups[:5],
                     report.default.value, n / capture.wall, n / plain.wall, total.wall))
        console.print(
            f"seed {seed}: load+top-of-block {load.wall:.3f} s; capture {n / capture.cpu:,.0f} orders/s "
            f"CPU ({n / capture.wall:,.0f} wall); push/pop {n / plain.cpu:,.0f} orders/s CPU "
            f"({n / plain.wall:,.0f} wall); default+refunds (incl. load) {total.cpu:.2f} s CPU "
            f"({total.wall:.2f} s wall); largest groups {groups[:5]}; β0 {report.default.value / 1e18:.4f} ETH"
        )
    med = lambda i: statistics.median(r[i] for r in rows)
    console.print(f"[bold]median over {len(rows)} slots of {args.orders} orders:[/bold] "
                  f"capture {med(2):,.0f} orders/s CPU, {med(7):,.0f} wall (target ≥ 5,000); "
                  f"push/pop {med(3):,.0f} orders/s CPU, {med(8):,.0f} wall; "
                  f"default+refunds {med(4):.2f} s CPU, {med(9):.2f} s wall (target ≤ 5 s)")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
        a.bar([str(r[0]) for r in rows], [r[2] for r in rows], label="with capture (CPU time)")
        a.axhline(5000, color="red", ls="--", label="target")
        a.set(title="top-of-block simulation", xlabel="seed", ylabel="orders/s")
        a.legend()
        b.bar([str(r[0]) for r in rows], [r[4] for r in rows])
        b.axhline(5, color="red", ls="--")
        b.set(title=f"default + refunds, {args.orders} orders", xlabel="seed", ylabel="CPU seconds")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        console.print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
