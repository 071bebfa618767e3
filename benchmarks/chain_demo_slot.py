"""The Boost+ auction on a real-contract demo slot (issue 12): how long `settle.run_scenario`
takes on an embedded anvil's head state for the demo's workload (Router02 swaps, backruns,
sandwiches, arbitrage, transfers from `intake.workloads.uniswap`), with the state dumped
into the world (`state`) and with pyrevm's lazy fork of the node (`fork_url`), in the same run.

    PYTHONPATH=src python benchmarks/chain_demo_slot.py --orders 20 60 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time

from mevauction.chain.deploy import deploy
from mevauction.chain.node import Anvil
from mevauction.cli.demo_chain import slot_orders
from mevauction.service.onchain import CHAIN_LAYOUT
from mevauction.service.settle import build_scenario, run_scenario


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, nargs="+", default=[20, 60])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    builders = {"B1": {"algorithm": "mgp-ordering", "bid": "truthful"}}
    with Anvil() as node:
        rpc = node.client()
        deploy(rpc, CHAIN_LAYOUT)
        for n in args.orders:
            world, orders = slot_orders(rpc, n, 5)
            lazy = {k: v for k, v in world.items() if k != "state"}
            lazy.update(fork_url=node.url, fork_block=hex(world["parent"]["number"]))
            times: dict[str, list[float]] = {"dump": [], "lazy": []}
            for _ in range(args.runs):
                for name, w in (("dump", world), ("lazy", lazy)):
                    t = time.perf_counter()
                    report = run_scenario(build_scenario(w, orders, builders, 30_000_000), 8, None)
                    times[name].append(time.perf_counter() - t)
            print(f"{n} orders ({len(report['block'])} in the block): "
                  + ", ".join(f"{k} median {statistics.median(v) * 1000:.0f} ms" for k, v in times.items()))


if __name__ == "__main__":
    main()
