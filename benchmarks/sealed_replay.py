"""Per-update latency of the private running maximum over real relay bids.

Replays the 501 builder bids of mainnet slot 6214255 (data/relay/) in time order into a
3-server committee: each arriving bid is agreed on, checked (share consistency, range)
and folded into the secret (max, index) with one secure comparison. Prints the latency
distribution, checks the final winner and price against the plaintext replay, and plots
the latency of every update.

    PYTHONPATH=src python benchmarks/sealed_replay.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mevauction.cli.sealed import load_relay
from mevauction.privacy.client import LocalCommittee, run_on

RELAY = Path(__file__).resolve().parents[1] / "data" / "relay" / "slot6214255_builder_blocks_received.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--relay", default=str(RELAY))
    ap.add_argument("--plot", default="docs/benchmarks/sealed_replay.png")
    ap.add_argument("--speed", type=float, default=1.0, help="1 = real arrival times; 0 = as fast as possible")
    args = ap.parse_args()
    bids, arrivals = load_relay(args.relay)
    arrivals = [t / args.speed for t in arrivals] if args.speed > 0 else None
    values = [b.values[0] for b in bids]
    best = max(range(len(values)), key=lambda i: (values[i], -i))
    with LocalCommittee(3) as committee:
        async def go():
            result = await run_on(committee.access(), "stream", bids, max_bids=len(bids), arrivals_s=arrivals)
            async with committee.coordinator() as co:
                await co.shutdown()
            return result
        result = asyncio.run(go())
    if not result.ok:
        raise SystemExit(f"aborted: {result.reason}")
    per_server = [s["timing"]["update_latency_s"] for s in result.statements]
    ms = [max(col) * 1e3 for col in zip(*per_server)]
    ok = (result.outcome["winner"], result.outcome["price"]) == (bids[best].bidder, values[best])
    p99 = sorted(ms)[min(len(ms) - 1, int(0.99 * len(ms)))]
    print(f"{len(ms)} updates: median {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, max {max(ms):.2f} ms; "
          f"close → result {result.elapsed_s * 1e3:.1f} ms; preprocessing {result.preprocess_s:.2f} s; "
          f"bytes sent per server {max(s['bytes_sent'] for s in result.statements):,}; "
          f"winner/price match plaintext: {ok}")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(range(len(ms)), ms, ".", markersize=3)
    ax.axhline(statistics.median(ms), color="grey", linestyle="--", label=f"median {statistics.median(ms):.1f} ms")
    ax.set_xlabel("bid (time order)")
    ax.set_ylabel("update latency (ms)")
    ax.set_title("Private running max over slot 6214255's relay bids, 3 parties")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
