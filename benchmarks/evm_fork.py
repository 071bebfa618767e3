"""Benchmark the evm world forked from a node (issue 12 target: ≥ 2,000 orders/s top-of-block with capture).

An embedded anvil gets the real deployment (WETH9, Uniswap V2 factories, pairs,
Router02, the searcher contract); a slot of ``--orders`` orders is generated on its
head. Then, in the same run, the same orders are simulated at the top of the block
with read/write capture on worlds whose parent state is read

- ``lazy``: pyrevm's fork database on the node's RPC (one round trip per account or
  slot first touched), the baseline;
- ``dump``: the whole state at once (``anvil_dumpState``) loaded into pyrevm's memory,
  what the generated scenarios embed (the dump carries the node's whole history, so
  it grows with the chain);
- ``hot``: the accounts and slots a previous slot's orders touched (its read/write
  sets in ``--previous`` earlier slots of the same users) plus the new orders' senders and
  recipients, read in one batched request in front of the lazy fork database;
- ``cache``: the whole state dumped once (outside the measurement), then a block
  is mined (20 ether transfers between dev accounts) and the slot's world syncs to
  it by applying that block's prestate diff: what a service does slot after slot.

For each: the time to get the parent state alone (RPC + parse + load), the time to
build the world (parent state + the first pass of top-of-block simulations with
capture: what a slot pays; lazy fetches happen here) and the slot's rate (orders
over that whole time), and a second pass on the warm world (execution + capture
only). Orders/s are per CPU second of this single-threaded process (the one-core
figure) and per wall second (which includes the node's time).

Usage: PYTHONPATH=src python benchmarks/evm_fork.py [--orders 200] [--seeds 3] [--previous 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from rich.console import Console
from rich.table import Table

from mevauction.chain.deploy import deploy
from mevauction.chain.node import Anvil, AnvilConfig
from mevauction.intake.workloads.uniswap import GENESIS_TIME, _generate, layout_for
from mevauction.worlds.evm.fork import HotState, StateCache, fork_world


class Clock:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def measure(rpc, orders: list[dict], prefetch: str | HotState | StateCache) -> dict[str, float]:
    """Seconds to build the world (state + first top-of-block pass) and rates of both passes."""
    ids = [o["id"] for o in orders]
    with Clock() as build:  # parent state + every order simulated once with capture (EvmWorld.__init__)
        world = fork_world(rpc, orders, prefetch=prefetch)
    with Clock() as state_only:  # the same reads, no orders (a synced cache: nothing to read)
        fork_world(rpc, [], prefetch=prefetch)
    with Clock() as warm:
        for oid in ids:
            world.simulate_top(oid)
    # The rate a slot gets: orders over everything it pays (reading the state included).
    return {"state_s": state_only.wall, "build_s": build.wall,
            "first_cpu": len(ids) / build.cpu, "first_wall": len(ids) / build.wall,
            "warm_cpu": len(ids) / warm.cpu, "warm_wall": len(ids) / warm.wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--previous", type=int, default=3, help="earlier slots the hot set learns from")
    args = parser.parse_args()
    console = Console()
    results: dict[str, list[dict[str, float]]] = {"lazy": [], "dump": [], "hot": [], "cache": []}
    for seed in range(args.seeds):
        with Anvil(AnvilConfig(timestamp=GENESIS_TIME)) as node:
            rpc = node.client()
            rpc.call("anvil_setBlockTimestampInterval", 12)
            d = deploy(rpc, layout_for(args.orders, seed))
            previous = [_generate(rpc, d, args.orders, seed + 1000 * (k + 1), [], 3) for k in range(args.previous)]
            doc = _generate(rpc, d, args.orders, seed, [], 3)
            for _ in range(2):  # alternate the modes, twice
                for mode in ("lazy", "dump", "hot", "cache"):
                    prefetch: str | HotState | StateCache = mode
                    if mode == "cache":
                        prefetch = StateCache()
                        fork_world(rpc, [], prefetch=prefetch)  # the dump, once
                        dev = rpc.call("eth_accounts")
                        for i in range(20):
                            rpc.call("eth_sendTransaction", {"from": dev[i % 5], "to": dev[5 + i % 5], "value": "0x1"})
                        rpc.call("evm_mine")
                    if mode == "hot":
                        prefetch = HotState()
                        for slot in previous:  # the slots before, on the same users and contracts
                            fork_world(rpc, slot["orders"], prefetch=prefetch)
                    results[mode].append(measure(rpc, doc["orders"], prefetch))
        console.print(f"seed {seed}: {len(doc['orders'])} orders, "
                      + ", ".join(f"{m} build {results[m][-1]['build_s']:.3f} s" for m in results))
    table = Table(title=f"top-of-block with capture, {args.orders}-order Uniswap V2 slot, "
                        f"{args.seeds} seeds × 2 (load {os.getloadavg()[0]:.1f})")
    for col in ("parent state", "state only s", "state + first pass s", "slot /s (cpu)", "slot /s (wall)",
                "warm /s (cpu)", "warm /s (wall)"):
        table.add_column(col, justify="right")
    for mode, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        table.add_row(mode, f"{med['state_s']:.3f}", f"{med['build_s']:.3f}", f"{med['first_cpu']:,.0f}",
                      f"{med['first_wall']:,.0f}", f"{med['warm_cpu']:,.0f}", f"{med['warm_wall']:,.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
