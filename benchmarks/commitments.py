"""Cost of preconfirmation commitments in the auction (issue 14; mechanism/commitments.py).

    python benchmarks/commitments.py [--orders 200] [--seeds 5] [--committed 3] [--world amm]

For each generated slot: ``run_auction`` as generated, then with the first ``--committed``
orders of its largest conflict group as committed bundles (top-anchored: every block
on M \\ S is then searched on the state after them), interleaved, best of 3 each. Prints
medians and the per-slot ratio with / without (same process, same slots).
"""

from __future__ import annotations

import argparse
import statistics
import time

from mevauction.building.conflicts import conflict_groups
from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--committed", type=int, default=3)
    ap.add_argument("--world", default="amm")
    args = ap.parse_args()
    gen = workloads.generator_for(args.world)
    rows = []
    for seed in range(args.seeds):
        doc = gen(args.orders, seed)
        plain = parse_scenario(doc)
        groups = conflict_groups(list(plain.world.orders), plain.world.conflict_access)
        largest = max(groups, key=len)
        committed = parse_scenario({**doc, "commitments": [{"order": o} for o in largest[: args.committed]]})
        t_plain = best_of(plain.run_auction)
        t_committed = best_of(committed.run_auction)
        rows.append((len(largest), t_plain, t_committed))
        print(f"seed {seed}: largest group {len(largest)}, without {t_plain * 1e3:.1f} ms, "
              f"with {args.committed} committed {t_committed * 1e3:.1f} ms, ratio {t_committed / t_plain:.2f}")
    print(f"median: without {statistics.median(r[1] for r in rows) * 1e3:.1f} ms, "
          f"with {statistics.median(r[2] for r in rows) * 1e3:.1f} ms, "
          f"ratio {statistics.median(r[2] / r[1] for r in rows):.2f}")


if __name__ == "__main__":
    main()
