"""``mevauction scenario generate`` — write a realistic slot and show its conflict structure.

The world's workload generator (``mevauction.intake.workloads.<kind>``) draws the slot;
this command writes it as a ``mevauction.scenario/1`` file and prints the histogram
of conflict-group sizes (Boost+ paper Alg. 1 ``GetConflictGroups`` over the world's
conflict accesses), the statistic the Boost+ paper § 5.2 reports for mainnet.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from mevauction.building.conflicts import conflict_groups
from mevauction.cli.output import write_json
from mevauction.errors import InputError
from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.worlds import WORLD_MODULES

LARGE_GROUP = 8  # Boost+ paper § 5.2: "groups with at least 8 orders"
BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 7), (8, 15), (16, 31), (32, 63), (64, None))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenario", help="generate scenario files",
                       description="Scenario files (mevauction.scenario/1).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = actions.add_parser("generate", help="generate a realistic slot",
                             description="Generate one slot and print its conflict-group size histogram.")
    gen.add_argument("--world", default="amm", choices=list(WORLD_MODULES), help="world kind (default amm)")
    gen.add_argument("--orders", type=int, required=True, help="number of orders in the slot")
    gen.add_argument("--seed", type=int, default=0, help="random seed (same seed, same slot)")
    gen.add_argument("--builder", action="append", default=[], metavar="ALGORITHM",
                     help="add a builder submission running this built-in algorithm (repeatable)")
    gen.add_argument("-o", "--output", required=True, metavar="FILE", help="scenario file to write, - for stdout")
    gen.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    if args.orders < 1:
        raise InputError("--orders", "must be a positive integer")
    builders = [{"id": f"B{k + 1}", "algorithm": name, "bid": "truthful"} for k, name in enumerate(args.builder)]
    doc = workloads.generator_for(args.world, "--world")(args.orders, args.seed, builders=builders)
    write_json(doc, args.output)
    world = parse_scenario(doc).world
    sizes = [len(g) for g in conflict_groups(list(world.orders), world.conflict_access)]
    # The scenario may be on stdout: the human-readable summary then goes to stderr.
    console = Console(stderr=args.output == "-")
    console.print(histogram_table(sizes, f"{args.world}, {args.orders} orders, seed {args.seed}"))
    large = sum(1 for s in sizes if s >= LARGE_GROUP)
    console.print(f"{len(sizes)} conflict groups, {large} of ≥ {LARGE_GROUP} orders, largest {max(sizes, default=0)}"
                  + (f"; written to {args.output}" if args.output != "-" else ""))
    sys.stdout.flush()
    return 0


def size_histogram(sizes: Iterable[int]) -> list[tuple[str, int, int]]:
    """(bucket label, groups, orders) per size bucket."""
    rows = []
    sizes = list(sizes)
    for lo, hi in BUCKETS:
        inside = [s for s in sizes if s >= lo and (hi is None or s <= hi)]
        label = str(lo) if lo == hi else f"{lo}+" if hi is None else f"{lo}–{hi}"
        rows.append((label, len(inside), sum(inside)))
    return rows


def histogram_table(sizes: list[int], title: str) -> Table:
    table = Table(title=f"Conflict groups ({title})")
    for col in ("group size", "groups", "orders", "share of groups"):
        table.add_column(col, justify="right")
    total = max(1, len(sizes))
    for label, groups, orders in size_histogram(sizes):
        table.add_row(label, str(groups), str(orders), f"{100 * groups / total:.1f}%")
    return table
