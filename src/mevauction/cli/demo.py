"""``mevauction demo`` — the system on its embedded defaults, in one command.

By default (``--chain anvil``) it starts the real-time service on an embedded anvil
(SQLite, in-process committee) with a load generator playing users, searchers and
builders on real Uniswap V2 contracts for a few blocks and prints each delivered block
(number, hash, verification); ``--chain none`` runs the service on its own slot numbers
in the ``amm`` or ``table`` world and prints each slot's settlement. ``--offline``
skips the service: it generates one amm slot, runs the Boost+ auction on it and prints the report.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from mevauction.cli.auction import print_report
from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.settlement.report import ReportDocument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo on embedded defaults")
    p.add_argument("--slots", type=int, default=3, help="slots to play (default 3)")
    p.add_argument("--orders", type=int, help="orders per generated slot (default 30 on the chain, 120 without)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--slot-seconds", type=float, default=4.0, help="slot length for the live demo")
    p.add_argument("--port", type=int, default=8550)
    p.add_argument("--chain", choices=("anvil", "none"), default="anvil",
                   help="anvil (default): the service on an embedded devnet, winning blocks mined and verified "
                        "on it; none: the service's own slot numbers and the --world below")
    p.add_argument("--world", choices=("amm", "table"), default="amm",
                   help="world of the live demo without a chain (default amm)")
    p.add_argument("--keep-open", action="store_true", help="leave the service and its web page up afterwards")
    p.add_argument("--offline", action="store_true", help="no service: one generated slot through the auction")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    if args.offline:
        return offline(args, console)
    if args.chain == "anvil":
        from mevauction.cli.demo_chain import delivered_ok, run_chain_demo
        from mevauction.service.committee import sealed_available

        docs = run_chain_demo(slots=args.slots, orders=args.orders or 30, seed=args.seed,
                              slot_seconds=args.slot_seconds, port=args.port, keep_open=args.keep_open,
                              console=console, sealed=sealed_available())
        return 0 if delivered_ok(docs) else 1
    from mevauction.cli.demo_load import run_demo

    reports = run_demo(slots=args.slots, orders=args.orders or 120, seed=args.seed, slot_seconds=args.slot_seconds,
                       port=args.port, keep_open=args.keep_open, console=console, world=args.world)
    return 0 if reports else 1


def offline(args: argparse.Namespace, console: Console) -> int:
    doc = workloads.generate("amm", args.orders or 120, args.seed,
                                       builders=[{"id": "rbuilder-mgp", "algorithm": "mgp-ordering"},
                                                 {"id": "rbuilder-parallel", "algorithm": "parallel"}])
    scenario = parse_scenario(doc)
    console.rule(f"generated amm slot: {len(scenario.orders)} orders, seed {args.seed}")
    print_report(ReportDocument.of(scenario.run_auction()), console)
    return 0
