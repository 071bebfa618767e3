"""Submitted algorithms on the running service: deadline→report with and without them.

One ``mevauction serve`` process; first ``--rounds`` slots of ``--orders`` orders with no
algorithm (the baseline, as benchmarks/service_settle.py sends them), then ``--algorithms``
registered builders submit (``mev_submitAlgorithm``; the reference greedy-with-lookahead
and local search, alternately) and the same rounds again. Reported per slot: the time
from the deadline to the published report, and how many algorithms' blocks were valid;
then the mean growth against the budget (target: no more than the budget).

    PYTHONPATH=src python benchmarks/service_algorithms.py --orders 400 --algorithms 8 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from service_harness import ServerProcess  # noqa: E402

from mevauction.client import Client, Signer  # noqa: E402
from service_settle import BUILDERS, one_round  # noqa: E402

EXAMPLES = [ROOT / "examples" / "algorithms" / name for name in ("greedy_lookahead.py", "local_search.py")]


def rounds(url: str, n: int, orders: int, rng: random.Random, label: str) -> list[float]:
    out = []
    for _ in range(n):
        slot, latency, searchers = asyncio.run(one_round(url, orders, rng, sealed=False))
        report = httpx.get(f"{url}/v1/slots/{slot}").json()
        # less the fixed bids of service_settle's builders (each names the default algorithm)
        valid = sum(1 for b in report["builders"] if b.get("valid")) - len(BUILDERS)
        print(f"{label}: slot {slot}: {searchers} searchers settled, "
              f"report {1000 * latency:.0f} ms after the deadline, {max(valid, 0)} submitted algorithms valid",
              flush=True)
        out.append(latency)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--algorithms", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget-ms", type=int, default=1000)
    parser.add_argument("--slot-seconds", type=float, default=6.0)
    args = parser.parse_args()
    builders = [Signer(random.Random(100 + i).randbytes(32)) for i in range(args.algorithms)]
    workdir = Path(tempfile.mkdtemp(prefix="mevauction-algos-"))
    extra = ["--algorithm-budget-ms", str(args.budget_ms)]
    for s in (*BUILDERS, *builders):
        extra += ["--builder", f"{s.address}={10**24}"]
    server = ServerProcess(f"sqlite:///{workdir / 's.db'}", slot_seconds=args.slot_seconds,
                           log=workdir / "server.log", extra=extra).start()
    rng = random.Random(3)
    try:
        rounds(server.url, 1, args.orders, rng, "warm-up (not counted)")
        base = rounds(server.url, args.rounds, args.orders, rng, "no algorithms")
        for i, s in enumerate(builders):
            with Client(server.url, s) as c:
                c.submit_algorithm("python", EXAMPLES[i % len(EXAMPLES)].read_text(), 1)
        time.sleep(args.slot_seconds)  # they run from the next slot
        withalgos = rounds(server.url, args.rounds, args.orders, rng, f"{args.algorithms} algorithms")
    finally:
        server.stop()
    growth = statistics.median(withalgos) - statistics.median(base)
    print(f"median deadline→report: {1000 * statistics.median(base):.0f} ms without, "
          f"{1000 * statistics.median(withalgos):.0f} ms with {args.algorithms} algorithms: "
          f"+{1000 * growth:.0f} ms (budget {args.budget_ms} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
