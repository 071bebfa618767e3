"""Deadline → block mined with settlement transactions, and verify, on a real anvil.

One slot of N evm orders (each a signed transfer from its own funded account, paying a
priority fee): from the deadline, the steps the service runs (service/onchain.py) —
the slot's world forked from the node at the head with its coinbase prepared, the
Boost+ auction on it (settle.run_scenario, what the worker runs), the block plan with
signed settlement transactions, mining it on the node (FIFO, mining off) and checking
the mined block against the plan — then ``verify`` of the mined block from chain data.
Median of ``--runs`` slots, each on the chain left by the one before.

    PYTHONPATH=src python benchmarks/chain_delivery.py --orders 200 --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time

from mevauction.chain.node import Anvil
from mevauction.chain.rpc import quantity
from mevauction.delivery import mine
from mevauction.delivery.plan import block_plan, coinbase_key
from mevauction.delivery.verify import verify
from mevauction.eth import secp256k1
from mevauction.eth.keccak import keccak
from mevauction.eth.transactions import sign
from mevauction.service import settle

SECRET = b"\x01" * 32


def keys(n: int) -> list[bytes]:
    return [secp256k1.private_key(int.from_bytes(keccak(f"bench-{i}".encode()), "big") % (secp256k1.N - 1) + 1)
            for i in range(n)]


def one_slot(node: Anvil, senders: list[bytes], nonce: int) -> dict[str, float]:
    rpc = node.client()
    t0 = time.perf_counter()
    parent = mine.parent_of_next(rpc)
    number = parent.number + 1
    coinbase = secp256k1.address_of(coinbase_key(SECRET, 31337, number))
    mine.prepare_coinbase(rpc, coinbase)
    raws = ["0x" + sign(k, 2, chain_id=31337, nonce=nonce, gas_limit=21_000, to="0x" + f"{0x10000 + i:040x}",
                        value=1, max_priority_fee=10**9 + i, max_fee=10**11).hex() for i, k in enumerate(senders)]
    orders = [{"id": f"o{i}", "raw_txs": [raw]} for i, raw in enumerate(raws)]
    world = {"kind": "evm", "chain_id": 31337, "fork_url": node.url, "fork_block": hex(parent.number),
             "block": {"number": number, "timestamp": parent.timestamp + 12, "base_fee": parent.base_fee,
                       "gas_limit": parent.gas_limit, "coinbase": coinbase}}
    scenario = settle.build_scenario(world, orders, {}, parent.gas_limit)
    t1 = time.perf_counter()
    report = settle.run_scenario(scenario, 8)
    assert "error" not in report, report["error"]
    assert len(report["block"]) == len(orders), sorted({o["id"] for o in orders} - set(report["block"]))[:5]
    t2 = time.perf_counter()
    plan = block_plan(report, {o["id"]: o for o in orders}, number=number, timestamp=parent.timestamp + 12,
                      base_fee=parent.base_fee, chain_id=31337, secret=SECRET, fee_recipient="0x" + "22" * 20)
    mined = mine.mine(rpc, plan)
    assert mined.mismatches == [], mined.mismatches[:3]
    t3 = time.perf_counter()
    doc = {"report": report, "delivery": plan.to_json(), "fee_recipient": "0x" + "22" * 20}
    result = verify(rpc, number, doc)
    t4 = time.perf_counter()
    assert result.ok, result.mismatches[:3]
    return {"fork+prepare": t1 - t0, "auction": t2 - t1, "plan+mine+check": t3 - t2, "deadline→mined": t3 - t0,
            "verify": t4 - t3, "block_txs": len(result.txs)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    senders = keys(args.orders)
    with Anvil() as node:
        rpc = node.client()
        rpc.batch([("anvil_setBalance", [secp256k1.address_of(k), quantity(10**20)]) for k in senders])
        runs = [one_slot(node, senders, n) for n in range(args.runs)]
    print(f"{args.orders} orders per slot, {args.runs} slots, block of {runs[0]['block_txs']:.0f} transactions "
          "(orders + settlements)")
    for name in ("fork+prepare", "auction", "plan+mine+check", "deadline→mined", "verify"):
        values = [r[name] for r in runs]
        print(f"  {name:18s} median {statistics.median(values) * 1000:8.1f} ms   "
              f"min {min(values) * 1000:8.1f}   max {max(values) * 1000:8.1f}")


if __name__ == "__main__":
    main()
