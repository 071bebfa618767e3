"""Settlement latency: from a slot's intake deadline to its published report, 500 orders.

Each round sends --orders searcher orders (``table`` world bid tables in small
conflict groups, as in the demo) and one sealed builder bid to the next slot, then
polls ``GET /v1/slots/{slot}`` every 5 ms after the deadline. Reported: the client's
deadline→report time and the server's own measure (``mevauction_settlement_seconds``).

    PYTHONPATH=src python benchmarks/service_settle.py --orders 500 --rounds 3
    PYTHONPATH=src python benchmarks/service_settle.py --orders 500 --rounds 3 --backends clear mpc 2pc

``--backends``: one service per entry, one after the other in the same run, on the same
orders: ``clear`` (builders' bids in the clear), ``mpc`` (``--sealed``: the 3-server
committee) and ``2pc`` (``--sealed --backend 2pc``: the garbler/evaluator pair). On a
sealed service three builders send sealed bids (the SDK seals them); in the clear the
same three amounts. The median per backend is printed, and its excess over ``clear``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
from service_harness import ServerProcess

from mevauction.cli.demo_load import table_orders
from mevauction.client import AsyncClient, Signer

BUILDERS = [Signer(random.Random(4 + i).randbytes(32)) for i in range(3)]  # registered with the service
AMOUNTS = [7 * 10**18, 5 * 10**18, 3 * 10**18]  # wei; the first wins if its block is worth it


async def one_round(url: str, orders: int, rng: random.Random, sealed: bool) -> tuple[int, float, int]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as http:
        info = await AsyncClient(url, http=http).slot()
        slot = info["slot"] + 1
        searchers = [AsyncClient(url, Signer(rng.randbytes(32)), http=http) for _ in range(16)]
        flow = table_orders(slot, orders, rng)
        for start in range(0, len(flow), 32):
            await asyncio.gather(*(searchers[i % 16].send_order(o, slot) for i, o in enumerate(flow[start:start + 32])))
        for signer, amount in zip(BUILDERS, AMOUNTS, strict=True):
            builder = AsyncClient(url, signer, http=http)
            if sealed:
                await builder.send_sealed_builder_bid(slot, amount, algorithm="default")
            else:
                await builder.send_builder_bid(slot, bid=amount, algorithm="default")
        deadline = info["deadline_ms"] / 1000 + info["slot_seconds"]
        await asyncio.sleep(max(0.0, deadline - time.time()))
        while True:
            r = await http.get(f"{url}/v1/slots/{slot}")
            if r.status_code == 200:
                return slot, time.time() - deadline, len(r.json()["searchers"])
            await asyncio.sleep(0.005)


def serve(backend: str, args: argparse.Namespace, rng: random.Random) -> list[float]:
    workdir = Path(tempfile.mkdtemp(prefix=f"mevauction-settle-{backend}-"))
    sealed = [] if backend == "clear" else ["--sealed", "--backend", backend]
    registry = [a for b in BUILDERS for a in ("--builder", f"{b.address}={10**24}")]
    server = ServerProcess(f"sqlite:///{workdir / 's.db'}", slot_seconds=args.slot_seconds,
                           log=workdir / "server.log", extra=[*sealed, *registry]).start()
    latencies = []
    try:
        for _ in range(args.rounds):
            slot, latency, n = asyncio.run(one_round(server.url, args.orders, rng, bool(sealed)))
            latencies.append(latency)
            print(f"{backend:5s} slot {slot}: {n} orders, report {1000 * latency:.0f} ms after the deadline",
                  flush=True)
        metrics = httpx.get(server.url + "/metrics").text
    finally:
        server.stop()
    total = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("mevauction_settlement_seconds_sum")
        or line.startswith("mevauction_settlement_seconds_count")
    }
    if total.get("mevauction_settlement_seconds_count"):
        mean = total["mevauction_settlement_seconds_sum"] / total["mevauction_settlement_seconds_count"]
        print(f"{backend:5s} server-side mean deadline→stored report: {1000 * mean:.0f} ms")
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slot-seconds", type=float, default=6.0)
    parser.add_argument("--backends", nargs="+", default=["clear"], choices=["clear", "mpc", "2pc"])
    args = parser.parse_args()
    # the same seed for every backend: the same orders, round by round
    medians = {b: statistics.median(serve(b, args, random.Random(3))) for b in args.backends}
    print(f"load {os.getloadavg()[0]:.1f}; median deadline→report (client), {args.rounds} rounds, "
          f"{args.orders} orders:")
    for backend, m in medians.items():
        over = "clear" in medians and backend != "clear"
        extra = f" (+{1000 * (m - medians['clear']):.0f} ms over clear)" if over else ""
        print(f"  {backend:5s} {1000 * m:.0f} ms{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
