"""The live demo on a chain (``mevauction demo``, its default ``--chain anvil``).

The service starts an embedded anvil (mining off, FIFO), deploys WETH9, ERC-20s and two
Uniswap V2 venues from the real artifacts and funds the demo's users and searchers
(``service/onchain.py``). Per slot — the chain's next block — this load generator signs a
fresh workload against the node's head state with the real-contract generator
(:mod:`mevauction.intake.workloads.uniswap`: router swaps with slippage bounds, backruns,
sandwiches, arbitrages, ERC-20 and ether transfers) and sends it the way clients would:
single transactions with ``eth_sendRawTransaction`` (public), searchers' bundles with
``eth_sendBundle``, and two builders' (sealed) bids. At each deadline the service mines
the winning block with its settlement transactions and verifies it from chain data; the
demo prints each slot's delivered block (number, hash, verification) and, on exit, the
service stops anvil.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from mevauction.building.registry import make_builder
from mevauction.chain.deploy import read_deployment
from mevauction.chain.rpc import RpcClient
from mevauction.cli.demo_load import BUILDER_DEPOSIT, BackgroundServer, builder_plan, demo_builders
from mevauction.cli.output import fmt_eth
from mevauction.client import AsyncClient, RpcError, Signer
from mevauction.intake.scenario import parse_scenario
from mevauction.intake.workloads import uniswap
from mevauction.service.config import ServiceConfig
from mevauction.service.onchain import CHAIN_LAYOUT
from mevauction.service.settle import build_scenario

PUBLIC_KINDS = ("swap", "transfer", "eth_transfer")  # single transactions a wallet would broadcast
MAX_ORDERS = min(CHAIN_LAYOUT.users - 4, CHAIN_LAYOUT.searchers)  # one sender per order


def builder_amount(world: dict, orders: list[dict], algorithm: str) -> int:
    """A sealed builder's bid, computed on its side: 99 % of the value of the block its
    algorithm builds from the orders it has seen (a whole auction with counterfactual
    refunds would not fit in a demo slot on the real-contract world)."""
    scenario = parse_scenario(build_scenario(world, orders, {}, world["block"]["gas_limit"]))
    block = make_builder(algorithm).build(scenario.world, [o["id"] for o in orders])
    return block.value * 99 // 100


def slot_orders(rpc: RpcClient, orders: int, seed: int) -> tuple[dict, list[dict]]:
    """A workload signed against the node's head (world with its state, orders)."""
    deployment = read_deployment(rpc, CHAIN_LAYOUT)
    if deployment is None:
        raise RuntimeError(f"{rpc.url} holds no demo deployment")
    doc = uniswap._generate(rpc, deployment, orders, seed, [], 3)
    return doc["world"], doc["orders"]


async def send_slot(url: str, slot: int, world: dict, orders: list[dict], searchers: list[Signer],
                    builders: list[Signer], rng: random.Random, sealed: bool) -> tuple[int, int]:
    """Send one slot's flow; (public transactions, bundles) acknowledged."""
    public = bundles = 0
    sent: set[str] = set()
    async with httpx.AsyncClient(timeout=10) as http:
        jobs = []
        for order in orders:
            raws = order["raw_txs"]
            if order.get("kind") in PUBLIC_KINDS and len(raws) == 1:
                if raws[0] in sent:
                    continue
                sent.add(raws[0])
                jobs.append(AsyncClient(url, http=http).call("eth_sendRawTransaction", raws))
                public += 1
            else:
                options = {"reverting_tx_hashes": order["revertingTxHashes"]} if order.get("revertingTxHashes") else {}
                jobs.append(AsyncClient(url, rng.choice(searchers), http=http).send_bundle(raws, slot, **options))
                bundles += 1
        for start in range(0, len(jobs), 16):
            await asyncio.gather(*jobs[start:start + 16])
        for builder, (algorithm, bid) in zip(builders, builder_plan()):
            client = AsyncClient(url, builder, http=http)
            try:
                if not sealed:
                    await client.send_builder_bid(slot, bid=bid, algorithm=algorithm)
                else:
                    amount = await asyncio.to_thread(builder_amount, world, orders, algorithm)
                    await client.send_sealed_builder_bid(slot, amount, algorithm=algorithm)
            except RpcError as exc:  # e.g. too late for the slot: that builder sits this block out
                print(f"  builder {builder.address[:10]}… ({algorithm}): {exc}")
    return public, bundles


async def _play(url: str, rpc: RpcClient, slots: int, orders: int, seed: int, slot_seconds: float,
                sealed: bool, console: Console) -> list[int]:
    rng = random.Random(seed)
    searchers = [Signer(rng.randbytes(32)) for _ in range(8)]
    builders = demo_builders(seed)
    played: list[int] = []
    async with httpx.AsyncClient(timeout=10) as http:
        reader = AsyncClient(url, http=http)
        for _ in range(slots):
            # The next slot opens once the previous block is on the chain: its orders are
            # signed on that block's state (nonces, reserves).
            give_up = time.monotonic() + 10 * slot_seconds + 30
            while True:
                info = await reader.slot()
                slot = info["slot"]
                head = await asyncio.to_thread(rpc.block_number)
                left = info["deadline_ms"] / 1000 - time.time()
                if head == slot - 1 and slot not in played and left > slot_seconds / 2:
                    break
                if time.monotonic() > give_up:
                    raise RuntimeError(f"slot {slot} never opened on the chain (head {head})")
                await asyncio.sleep(0.05)
            world, flow = await asyncio.to_thread(slot_orders, rpc, orders, seed * 1_000_003 + slot)
            public, bundles = await send_slot(url, slot, world, flow, searchers, builders, rng, sealed)
            console.print(f"slot {slot} (block {slot} on the chain): {public} public transactions, "
                          f"{bundles} bundles, {len(builders)} builder bids")
            played.append(slot)
    return played


def wait_delivered(url: str, slot: int, timeout: float, status: tuple[str, ...] | None = None) -> dict:
    """The slot's document once its delivery is final (mined and verified, or failed), or
    once it reaches one of ``status``; the last document seen if the timeout comes first."""
    give_up = time.monotonic() + timeout
    doc: dict = {}
    while time.monotonic() < give_up:
        r = httpx.get(f"{url}/v1/slots/{slot}", timeout=5)
        if r.status_code == 200:
            doc = r.json()
            d = doc.get("delivery") or {}
            reached = d.get("status") in status if status else d.get("status") not in (None, "planned")
            if reached and (d.get("verification") or d.get("status") != "mined"):
                return doc
        time.sleep(0.1)
    return doc


def print_deliveries(docs: list[dict], console: Console) -> None:
    table = Table(title="delivered blocks (ETH, rounded down to 6 places; the exact wei are in /v1/slots/N)")
    for column in ("slot", "block", "hash", "txs", "winner", "refunds", "proposer", "verified"):
        table.add_column(column, justify="right")
    for doc in docs:
        d = doc.get("delivery") or {}
        v = d.get("verification") or {}
        verdict = "ok" if v.get("ok") else (f"{len(v.get('mismatches', []))} mismatches" if v else d.get("status", "-"))
        refunds = sum(int(s["refund"]) for s in doc.get("searchers", {}).values())
        winner = doc.get("winner", "-")
        table.add_row(str(doc.get("slot")), str(d.get("number", "-")), str(d.get("hash") or "-"),
                      f"{len(d.get('txs', []))}+{len(d.get('payouts', []))}",
                      winner if winner == "default" else str(winner)[:10] + "…",
                      fmt_eth(refunds), fmt_eth(int(doc.get("proposer", 0))), verdict)
    console.print(table)
    for doc in docs:  # the full hashes, to look up with cast or mevauction verify
        d = doc.get("delivery") or {}
        v = d.get("verification") or {}
        outcome = "verified ok" if v.get("ok") else "; ".join(v.get("mismatches", [])[:3]) or d.get("reason") or "-"
        console.print(f"block {d.get('number', '-')} {d.get('hash') or '(not mined)'}: {outcome}", soft_wrap=True)


def run_chain_demo(slots: int = 3, orders: int = 60, seed: int = 1, slot_seconds: float = 4.0, port: int = 8550,
                   keep_open: bool = False, console: Console | None = None, sealed: bool = False,
                   db: str | None = None) -> list[dict]:
    """Start the service on an embedded anvil, play ``slots`` blocks, print and return their documents."""
    console = console or Console()
    orders = min(orders, MAX_ORDERS)
    workdir = Path(tempfile.mkdtemp(prefix="mevauction-demo-"))
    config = ServiceConfig(port=port, db=db or f"sqlite:///{workdir / 'demo.db'}", slot_seconds=slot_seconds,
                           chain="anvil", sealed=sealed,
                           builders={b.address: BUILDER_DEPOSIT for b in demo_builders(seed)})
    server = BackgroundServer(config).start(timeout=120)
    docs: list[dict] = []
    try:
        link = server.service.engine.chain if server.service.engine else None
        assert link is not None, "the service runs on a chain"
        console.print(f"service up at {server.url}/ (live page), anvil at {link.url} (chain {link.chain_id}; "
                      f"WETH9, 3 ERC-20s, 2 Uniswap V2 venues deployed), db {config.db}; playing {slots} blocks of "
                      f"up to {orders} orders; builder bids "
                      + ("sealed, opened by a 3-party MPC committee" if sealed else "in the clear"))
        rpc = RpcClient(link.url, timeout=30)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the demo cleanly
            played = asyncio.run(_play(server.url, rpc, slots, orders, seed, slot_seconds, sealed, console))
            docs = [wait_delivered(server.url, s, 10 * slot_seconds + 60) for s in played]
            print_deliveries(docs, console)
            if keep_open:
                console.print(f"page at {server.url}/, node at {link.url} — Ctrl-C to stop")
                while True:
                    time.sleep(3600)
        rpc.close()
    finally:
        server.stop()  # the service's lifespan stops anvil
    return docs


def delivered_ok(docs: list[dict]) -> bool:
    return bool(docs) and all(((d.get("delivery") or {}).get("verification") or {}).get("ok") for d in docs)
