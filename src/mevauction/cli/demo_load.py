"""The live demo: the service in-process and a load generator playing the market.

Per slot, searchers send orders in the slot world's format (``mev_sendOrder``: bid
tables in the ``table`` world, generated swaps/arbitrages in the ``amm`` world),
users send signed transfers as Flashbots bundles (``eth_sendBundle``), and two
builders submit sealed bids (an rbuilder-style algorithm and a truthful ``parallel``
builder). Each slot settles at its deadline; the reports are printed and returned.

It sits at the cli layer, above ``service`` and ``client``: it drives the one through
the other (and prints with the CLI's formatting); the service itself knows of neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from mevauction.cli.output import fmt_eth
from mevauction.client import AsyncClient, Signer, signed_transfer
from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.service.app import create_app
from mevauction.service.committee import sealed_available
from mevauction.service.config import ServiceConfig
from mevauction.service.intake import available_algorithms
from mevauction.service.settle import build_scenario

BUILDER_CHOICES = (("mgp-ordering", "truthful"), ("parallel", "truthful"), ("default", "truthful"))
BUILDER_DEPOSIT = 10**24  # wei (10^6 ETH): the demo's builders bid truthfully, far below it


def demo_builders(seed: int) -> list[Signer]:
    """The demo's two builders (the service registers them with a deposit)."""
    rng = random.Random(f"builders:{seed}")
    return [Signer(rng.randbytes(32)) for _ in range(2)]


def truthful_amount(world: dict, orders: list[dict], algorithm: str) -> int:
    """A sealed builder's own truthful bid: its block's value over the orders it has seen,
    computed on its side (the sealed service never learns the amount)."""
    doc = build_scenario(world, orders, {"builder": {"algorithm": algorithm, "bid": "truthful"}}, 30_000_000)
    return parse_scenario(doc).run_auction().builders[0].bid


def builder_plan() -> list[tuple[str, str]]:
    """Two builders' (algorithm, bid), preferring the rbuilder-style baselines when installed."""
    available = set(available_algorithms())
    return [choice for choice in BUILDER_CHOICES if choice[0] in available][:2]


class BackgroundServer:
    """uvicorn serving the app on its own thread and event loop (stopped by :meth:`stop`)."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.service = create_app(config)
        self.server = uvicorn.Server(uvicorn.Config(self.service, host=config.host, port=config.port,
                                                    log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="mevauction-service", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self.thread.start()
        give_up = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > give_up:
                raise RuntimeError(f"the service did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def table_orders(slot: int, count: int, rng: random.Random) -> list[dict]:
    """Searcher orders for a ``table`` slot: small conflict groups with state-dependent bids.

    Orders touching the same key conflict; an order placed after a particular rival
    bids differently (a backrun is worth more after its target, an arbitrage less
    after a competitor has taken the spread).
    """
    keys = [f"pool{k}" for k in range(max(1, count // 3))]
    orders: list[dict] = []
    for n in range(count):
        key = rng.choice(keys)
        oid = f"s{slot}-{n}"
        rivals = [o["id"] for o in orders if key in o["writes"]]
        default = rng.randrange(10**15, 10**17)
        after = {r: rng.randrange(0, 2 * default) for r in rivals[-2:]}
        orders.append({"id": oid, "reads": [key], "writes": [key], "gas": rng.randrange(60_000, 300_000),
                       "bid": {"default": default, "after": after}})
    return orders


def amm_orders(count: int, seed: int) -> tuple[dict, list[dict]]:
    """A generated amm slot (world and orders) on the pools every demo slot uses."""

    doc = workloads.generate("amm", count, seed)
    return doc["world"], doc["orders"]


def amm_slot_flow(orders: list[dict], slot: int, rng: random.Random) -> list[dict]:
    """One slot's amm flow: a random ~80% of the generated orders, renamed for the slot.

    The service's world (pools, balances) is fixed, so slots differ by which orders
    show up; a backrun or sandwich comes only with its victim.
    """
    kept = [o for o in orders if rng.random() < 0.8]
    ids = {o["id"] for o in kept}
    kept = [o for o in kept if o.get("victim") is None or o["victim"] in ids]
    rename = {o["id"]: f"s{slot}-{o['id']}" for o in kept}
    flow = []
    for o in kept:
        o = dict(o, id=rename[o["id"]])
        if o.get("victim") is not None:
            o["victim"] = rename[o["victim"]]
        if "txs" in o:
            o["txs"] = [f"{tx}-{slot}" for tx in o["txs"]]
        flow.append(o)
    return flow


async def play_slot(url: str, slot: int, orders: list[dict], users: list[Signer], searchers: list[Signer],
                    builders: list[Signer], rng: random.Random, nonces: dict[str, int], slot_seconds: float,
                    world_kind: str = "table", sealed_world: dict | None = None) -> int:
    """Send one slot's flow spread over the first half of the slot; returns requests acknowledged.

    With ``sealed_world`` (a ``--sealed`` service) each builder seals its truthful bid itself.
    """
    async with httpx.AsyncClient(timeout=10) as http:
        def client(s: Signer) -> AsyncClient:
            return AsyncClient(url, s, http=http)

        # Orders that refer to earlier ones (amm backruns and sandwiches name their
        # victim) go first and in order; independent traffic is then sent concurrently.
        sent = 0
        if world_kind != "table":
            for order in sorted(orders, key=lambda o: "victim" in o):
                await client(rng.choice(searchers)).send_order(order, slot)
                sent += 1
        jobs = [client(rng.choice(searchers)).send_order(order, slot) for order in orders if world_kind == "table"]
        # Users' plain transfers as Flashbots bundles (in the table world; generated amm
        # slots already contain their users' swaps and transfers).
        for user in users if world_kind == "table" else []:
            nonce = nonces.get(user.address, 0)
            nonces[user.address] = nonce + 1
            tx = signed_transfer(
                user.private_key, nonce, "0x" + rng.randbytes(20).hex(), tip=rng.randrange(10**8, 3 * 10**9)
            )
            jobs.append(client(user).send_bundle([tx], slot))
        rng.shuffle(jobs)
        pause = slot_seconds * 0.4 / max(1, len(jobs))
        for start in range(0, len(jobs), 16):
            await asyncio.gather(*jobs[start:start + 16])
            sent += len(jobs[start:start + 16])
            await asyncio.sleep(pause * 16)
        for builder, (algorithm, bid) in zip(builders, builder_plan()):
            if sealed_world is None:
                await client(builder).send_builder_bid(slot, bid=bid, algorithm=algorithm)
            else:
                amount = await asyncio.to_thread(truthful_amount, sealed_world, orders, algorithm)
                await client(builder).send_sealed_builder_bid(slot, amount, algorithm=algorithm)
        return sent + len(builders)


async def _play(url: str, slots: int, orders: int, seed: int, slot_seconds: float, world: dict,
                sealed: bool = False) -> list[dict]:
    rng = random.Random(seed)
    users = [Signer(rng.randbytes(32)) for _ in range(max(2, orders // 10))]
    searchers = [Signer(rng.randbytes(32)) for _ in range(8)]
    builders = demo_builders(seed)
    nonces: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        info = await AsyncClient(url, http=http).slot()
    first = info["slot"] + 1
    reports = []
    amm_flow = amm_orders(orders, seed)[1] if world["kind"] != "table" else []
    for slot in range(first, first + slots):
        wait = info["deadline_ms"] / 1000 + (slot - first) * slot_seconds - time.time()
        await asyncio.sleep(max(0.0, wait))  # slot is now open
        slot_orders = (table_orders(slot, orders, rng) if world["kind"] == "table"
                       else amm_slot_flow(amm_flow, slot, rng))
        await play_slot(url, slot, slot_orders, users, searchers, builders, rng, nonces, slot_seconds, world["kind"],
                        world if sealed else None)
    async with httpx.AsyncClient(timeout=10) as http:
        reader = AsyncClient(url, http=http)
        for slot in range(first, first + slots):
            give_up = time.monotonic() + 10 * slot_seconds + 30
            while (report := await reader.report(slot)) is None and time.monotonic() < give_up:
                await asyncio.sleep(0.2)
            if report is not None:
                reports.append({"slot": slot, **report})
    return reports


def print_reports(reports: list[dict], console: Console) -> None:
    table = Table(title="settled slots (ETH; price = what the winner pays: max(β0, β′), or β0 if the default wins; "
                        "losing bids are never published)")
    for column in ("slot", "orders", "incl.", "winner", "β0", "price", "refunds", "proposer"):
        table.add_column(column, justify="right")
    for r in reports:
        refunds = sum(int(s["refund"]) for s in r["searchers"].values())
        winner = r["winner"] if r["winner"] == "default" else r["winner"][:10] + "…"
        table.add_row(str(r["slot"]), str(len(r["searchers"])), str(len(r["block"])), winner,
                      fmt_eth(int(r["default"]["value"])), fmt_eth(int(r["price"])), fmt_eth(refunds),
                      fmt_eth(int(r["proposer"])))
    console.print(table)


def run_demo(slots: int = 3, orders: int = 120, seed: int = 1, slot_seconds: float = 4.0, port: int = 8550,
             keep_open: bool = False, console: Console | None = None, world: str = "table",
             db: str | None = None, sealed: bool | None = None) -> list[dict]:
    """Start the service, play ``slots`` slots of market flow, print and return the reports.

    ``sealed`` (default: whenever ``mevauction.privacy`` is installed) has the builders'
    sealed bids opened by a local 3-party MPC committee at each deadline.
    """
    console = console or Console()
    workdir = Path(tempfile.mkdtemp(prefix="mevauction-demo-"))
    world_arg = world
    if world == "amm":
        world_file = workdir / "world.json"
        world_file.write_text(json.dumps(amm_orders(orders, seed)[0]))
        world_arg = str(world_file)
    if sealed is None:
        sealed = sealed_available()
    config = ServiceConfig(port=port, db=db or f"sqlite:///{workdir / 'demo.db'}", slot_seconds=slot_seconds,
                           world=world_arg, sealed=sealed,
                           builders={b.address: BUILDER_DEPOSIT for b in demo_builders(seed)})
    server = BackgroundServer(config).start()
    console.print(f"service up at {server.url}/ (live page), db {config.db}; playing {slots} slots "
                  f"of {orders} searcher orders each; builder bids "
                  + ("sealed, opened by a 3-party MPC committee" if sealed else "opened in the clear "
                     "(mevauction.privacy not installed)"))
    reports: list[dict] = []
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the demo cleanly
            reports = asyncio.run(_play(server.url, slots, orders, seed, slot_seconds, config.world_object(), sealed))
            print_reports(reports, console)
            if keep_open:
                console.print(f"page at {server.url}/ — Ctrl-C to stop")
                while True:
                    time.sleep(3600)
    finally:
        server.stop()
    return reports
