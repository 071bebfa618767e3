"""Default + refunds with half of each large group's shuffles in a forked child, against
the same blocks in one process, alternated block by block (building/forked.py).

Wall time is what the fork can save (the child's CPU is not this process's); on a
machine whose two cores are already busy it cannot save anything, so the load average
is printed with the figures. Results are checked equal on every block:

    PYTHONPATH=src python benchmarks/forked_family.py --profile contested --blocks 20
"""

from __future__ import annotations

import argparse
import os
import time

from default_refunds import percentile, scenario


def timed(doc: dict, seed: int, fork: bool, repeat: int) -> tuple[float, tuple]:
    from mevauction.building.default import DefaultBuilder
    from mevauction.worlds import build_world

    os.environ["MEVAUCTION_FORK_FAMILY"] = "1" if fork else "0"
    best, out = float("inf"), ()
    for _ in range(repeat):
        world = build_world(doc)
        start = time.perf_counter()
        sol = DefaultBuilder(8, seed).solve(world, list(world.orders))
        best = min(best, (time.perf_counter() - start) * 1000)
        out = (sol.block.orders, sol.block.bids, sol.refunds, sol.counterfactual)
    return best, out


def main() -> None:
    from mevauction.evaluation.harness import block_seed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--world", choices=("amm", "evm"), default="amm")
    parser.add_argument("--profile", default="contested", choices=("mainnet", "contested"))
    parser.add_argument("--slots", help="keep generated slots in this folder and reuse them")
    args = parser.parse_args()
    one, two, same = [], [], True
    for index in range(args.blocks):
        seed = block_seed(args.seed, index)
        doc = scenario(args.world, args.orders, seed, args.profile, args.slots)
        a, first = timed(doc, seed, False, args.repeat)
        b, second = timed(doc, seed, True, args.repeat)
        one.append(a)
        two.append(b)
        same &= first == second
    print(f"{args.blocks} {args.world} blocks × {args.orders} ({args.profile}), fastest of {args.repeat}, "
          f"load {os.getloadavg()[0]:.1f}: one process median {percentile(one, 0.5):.1f} ms, p99 "
          f"{percentile(one, 0.99):.1f} ms; forked median {percentile(two, 0.5):.1f} ms, p99 "
          f"{percentile(two, 0.99):.1f} ms; ratio of medians {percentile(one, 0.5) / percentile(two, 0.5):.2f}x; "
          f"o*, refunds and counterfactual blocks identical: {same}")


if __name__ == "__main__":
    main()
