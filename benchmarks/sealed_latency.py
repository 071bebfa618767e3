"""Deadline-to-result latency of the sealed second-price auction, side by side.

One local committee of 3 MPyC server processes on 127.0.0.1; for each size n, the same
random 64-bit bids are auctioned

- by the committee's pipeline (bid-independent preprocessing before the deadline; then
  "admission": agreement on the bid set and the share-consistency check, one round;
  then "mechanism": the range check 0 ≤ bid < 2^64 folded into the first level of the
  digit-based tournament, the tournament and the opening), and
- by the straightforward version: MPyC ``np_argmax`` + ``np_amax`` over SecInt(65)
  (agreement only — no consistency or range checks, no preprocessing).

Latency is measured by the coordinator from the close (every bid's shares acknowledged
by every server) to the last server's signed result. Prints a table, writes JSON and
a PNG plot.

    PYTHONPATH=src python benchmarks/sealed_latency.py --sizes 128 1024 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from mevauction.privacy.client import Coordinator, LocalCommittee, SealedBid, run_on  # noqa: E402
from mevauction.privacy.mechanisms import clear_second  # noqa: E402

TARGETS_S = {128: 0.1, 1024: 0.5}


def one_run(intake, mechanism: str, values: list[int]) -> dict:
    bids = [SealedBid(f"b{i:05d}", [v]) for i, v in enumerate(values)]
    result = asyncio.run(run_on(intake, mechanism, bids))
    if not result.ok:
        raise SystemExit(f"{mechanism} aborted: {result.reason}")
    expected = clear_second(values)
    assert result.outcome["winner"] == bids[expected.winner].bidder and result.outcome["price"] == expected.price
    timing = [s["timing"] for s in result.statements]
    return {"elapsed_s": result.elapsed_s, "preprocess_s": result.preprocess_s,
            "online_s": max(t["online_s"] for t in timing),
            "admission_s": max(t["admission_s"] for t in timing),
            "mechanism_s": max(t["mechanism_s"] for t in timing),
            "bytes_sent_per_party": max(s["bytes_sent"] for s in result.statements)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 1024])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--json", default="docs/benchmarks/sealed_latency.json")
    ap.add_argument("--plot", default="docs/benchmarks/sealed_latency.png")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = []
    with LocalCommittee(3, timeout=600) as committee, Progress(transient=True) as progress:
        task = progress.add_task("auctions", total=len(args.sizes) * args.repeat * 2)
        for n in args.sizes:
            runs = {"second": [], "baseline": []}
            for _ in range(args.repeat):
                values = [rng.randrange(1 << 64) for _ in range(n)]
                for mechanism in runs:
                    runs[mechanism].append(one_run(committee.intake, mechanism, values))
                    progress.advance(task)
            row = {"n": n}
            for mechanism, rs in runs.items():
                row[mechanism] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            rows.append(row)

        async def stop():
            async with Coordinator(committee.intake) as co:
                await co.shutdown()
        asyncio.run(stop())

    table = Table(title=f"Sealed second price, 3 parties on one host, median of {args.repeat} (busy 2-core machine)")
    for col in ("bids", "ours: deadline→result", "target", "admission | mechanism", "preprocessing",
                "bytes/party", "np_argmax+np_amax", "bytes/party ", "speed-up"):
        table.add_column(col, justify="right")
    for row in rows:
        ours, base = row["second"], row["baseline"]
        table.add_row(str(row["n"]), f"{ours['elapsed_s'] * 1e3:.0f} ms",
                      f"{TARGETS_S[row['n']] * 1e3:.0f} ms" if row["n"] in TARGETS_S else "—",
                      f"{ours['admission_s'] * 1e3:.0f} | {ours['mechanism_s'] * 1e3:.0f} ms",
                      f"{ours['preprocess_s']:.1f} s", f"{ours['bytes_sent_per_party']:,}",
                      f"{base['elapsed_s'] * 1e3:.0f} ms", f"{base['bytes_sent_per_party']:,}",
                      f"{base['elapsed_s'] / ours['elapsed_s']:.1f}×")
    Console(width=160).print(table)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"repeat": args.repeat, "rows": rows}, indent=2) + "\n")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["second"]["elapsed_s"] for r in rows], 0.4, label="preprocessed digit tournament")
    ax.bar([x + 0.2 for x in xs], [r["baseline"]["elapsed_s"] for r in rows], 0.4, label="np_argmax + np_amax")
    for x, r in zip(xs, rows):
        if r["n"] in TARGETS_S:
            ax.hlines(TARGETS_S[r["n"]], x - 0.45, x + 0.45, colors="red", linestyles="dashed")
    ax.set_xticks(list(xs), [f"{r['n']} bids" for r in rows])
    ax.set_yscale("log")
    ax.set_ylabel("deadline → result (s)")
    ax.set_title("Sealed second-price auction, 3 MPyC parties (red: target)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"wrote {args.json} and {args.plot}")


if __name__ == "__main__":
    main()
