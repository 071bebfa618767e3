"""Settlement latency: from a slot's intake deadline to its published report, 500 orders.

Each round sends --orders searcher orders (``table`` world bid tables in small
conflict groups, as in the demo) and one sealed builder bid to the next slot, then
polls ``GET /v1/slots/{slot}`` every 5 ms after the deadline. Reported: the client's
deadline→report time and the server's own measure (``mevauction_settlement_seconds``).

    PYTHONPATH=src python benchmarks/service_settle.py --orders 500 --rounds 3
    PYTHONPATH=src python benchmarks/service_settle.py --orders 500 --rounds 3 --sealed

``--sealed`` serves with ``--sealed``: the builder bids are opened by the MPC committee.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))
from service_harness import ServerProcess

from mevauction.cli.demo_load import table_orders
from mevauction.client import AsyncClient, Signer

BUILDER = Signer(random.Random(4).randbytes(32))  # registered with the service


async def one_round(url: str, orders: int, rng: random.Random) -> tuple[int, float, int]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as http:
        info = await AsyncClient(url, http=http).slot()
        slot = info["slot"] + 1
        searchers = [AsyncClient(url, Signer(rng.randbytes(32)), http=http) for _ in range(16)]
        flow = table_orders(slot, orders, rng)
        for start in range(0, len(flow), 32):
            await asyncio.gather(*(searchers[i % 16].send_order(o, slot) for i, o in enumerate(flow[start:start + 32])))
        await AsyncClient(url, BUILDER, http=http).send_builder_bid(slot, algorithm="default")
        deadline = info["deadline_ms"] / 1000 + info["slot_seconds"]
        await asyncio.sleep(max(0.0, deadline - time.time()))
        while True:
            r = await http.get(f"{url}/v1/slots/{slot}")
            if r.status_code == 200:
                return slot, time.time() - deadline, len(r.json()["searchers"])
            await asyncio.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slot-seconds", type=float, default=6.0)
    parser.add_argument("--sealed", action="store_true", help="serve with --sealed (the MPC committee)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mevauction-settle-"))
    server = ServerProcess(f"sqlite:///{workdir / 's.db'}", slot_seconds=args.slot_seconds,
                           log=workdir / "server.log", extra=[*(["--sealed"] if args.sealed else []),
                                  "--builder", f"{BUILDER.address}={10**24}"]).start()
    rng = random.Random(3)
    try:
        for _ in range(args.rounds):
            slot, latency, n = asyncio.run(one_round(server.url, args.orders, rng))
            print(
                f"slot {slot}: {n} orders{', sealed' if args.sealed else ''}, "
                f"report {1000 * latency:.0f} ms after the deadline",
                flush=True,
            )
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
        print(f"server-side mean deadline→stored report: {1000 * mean:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
