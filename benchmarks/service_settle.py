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
same three amounts. All services run at once and their rounds alternate (the same load for each); the
median per backend is printed, and its excess over ``clear``.
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


def start(backend: str, args: argparse.Namespace) -> ServerProcess:
    workdir = Path(tempfile.mkdtemp(prefix=f"mevauction-settle-{backend}-"))
    sealed = [] if backend == "clear" else ["--sealed", "--backend", backend]
    registry = [a for b in BUILDERS for a in ("--builder", f"{b.address}={10**24}")]
    return ServerProcess(f"sqlite:///{workdir / 's.db'}", slot_seconds=args.slot_seconds,
                         log=workdir / "server.log", extra=[*sealed, *registry]).start()


def server_mean(url: str) -> float | None:
    metrics = httpx.get(url + "/metrics").text
    total = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
             if line.startswith(("mevauction_settlement_seconds_sum", "mevauction_settlement_seconds_count"))}
    count = total.get("mevauction_settlement_seconds_count")
    return total["mevauction_settlement_seconds_sum"] / count if count else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slot-seconds", type=float, default=6.0)
    parser.add_argument("--backends", nargs="+", default=["clear"], choices=["clear", "mpc", "2pc"])
    args = parser.parse_args()
    # all services up at once and their rounds interleaved, so each backend sees the same
    # load; the same seed for every backend: the same orders, round by round
    servers = {b: start(b, args) for b in args.backends}
    rngs = {b: random.Random(3) for b in args.backends}
    latencies: dict[str, list[float]] = {b: [] for b in args.backends}
    try:
        for _ in range(args.rounds):
            for backend, server in servers.items():
                slot, latency, n = asyncio.run(one_round(server.url, args.orders, rngs[backend], backend != "clear"))
                latencies[backend].append(latency)
                print(f"{backend:5s} slot {slot}: {n} orders, report {1000 * latency:.0f} ms after the deadline",
                      flush=True)
        means = {b: server_mean(s.url) for b, s in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    # the first round of each service includes its worker's warm-up: left out of the median
    medians = {b: statistics.median(v[1:] or v) for b, v in latencies.items()}
    print(f"load {os.getloadavg()[0]:.1f}; median deadline→report (client), rounds 2..{args.rounds}, "
          f"{args.orders} orders:")
    for backend, m in medians.items():
        over = "clear" in medians and backend != "clear"
        extra = f" ({1000 * (m - medians['clear']):+.0f} ms over clear)" if over else ""
        mean = means[backend]
        server = f"; server-side mean {1000 * mean:.0f} ms (all rounds)" if mean is not None else ""
        print(f"  {backend:5s} {1000 * m:.0f} ms{extra}{server}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
