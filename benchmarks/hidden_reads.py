"""What the final-block check of incomplete read sets costs the whole mechanism.

On an evm world (read sets from revm's journal, ``World.access_complete`` False) the
mechanism executes o* ∪ S once more before any builder runs, and compares what each
order pays with what its group predicted (docs/mechanism.md "Departures" (g)). This
times ``run_auction`` per generated slot with the check and with it switched off (the
same world kind with ``access_complete`` set True), fastest of ``--repeat`` each, on a
newly built world every time, and prints both and their ratio:

    PYTHONPATH=src python benchmarks/hidden_reads.py --blocks 8 --slots /tmp/evmslots
"""

from __future__ import annotations

import argparse
import time

from default_refunds import percentile, scenario


def measure(blocks: int, orders: int, seed: int, repeat: int, profile: str, slots: str | None) -> list[tuple]:
    from mevauction.evaluation.harness import block_seed
    from mevauction.mechanism.boost import AuctionInput, run_auction
    from mevauction.worlds import build_world

    rows = []
    for index in range(blocks):
        doc = scenario("evm", orders, block_seed(seed, index), profile, slots)
        timed = {}
        for checked in (True, False):
            best = float("inf")
            for _ in range(repeat):
                world = build_world(doc)
                world.access_complete = not checked
                start = time.perf_counter()
                report = run_auction(AuctionInput(world))
                best = min(best, (time.perf_counter() - start) * 1000)
            timed[checked] = (best, len(report.excluded))
        rows.append((index, *timed[True], *timed[False]))
        print(f"block {index}: checked {timed[True][0]:.0f} ms, unchecked {timed[False][0]:.0f} ms, "
              f"left out by the check {timed[True][1]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default="mainnet", choices=("mainnet", "contested"))
    parser.add_argument("--slots", help="keep generated slots in this folder and reuse them")
    args = parser.parse_args()
    rows = measure(args.blocks, args.orders, args.seed, args.repeat, args.profile, args.slots)
    checked, unchecked = [r[1] for r in rows], [r[3] for r in rows]
    print(f"run_auction, {len(rows)} evm blocks × {args.orders} orders ({args.profile}): with the check median "
          f"{percentile(checked, 0.5):.0f} ms, p99 {percentile(checked, 0.99):.0f} ms; without median "
          f"{percentile(unchecked, 0.5):.0f} ms, p99 {percentile(unchecked, 0.99):.0f} ms; ratio of medians "
          f"{percentile(checked, 0.5) / percentile(unchecked, 0.5):.2f}x; orders left out: {sum(r[2] for r in rows)}")


if __name__ == "__main__":
    main()
