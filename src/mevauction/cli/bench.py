"""``mevauction bench`` — the default algorithm against rbuilder's builders
(spec/bench.md; Boost+ paper § 5.4, Fig. 6 and Fig. 7)."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from mevauction.building.default import K_CUTOFF
from mevauction.cli.output import write_json
from mevauction.errors import InputError
from mevauction.evaluation.harness import (
    ALGORITHMS,
    BENCH_FORMAT,
    BenchParams,
    check_algorithms,
    environment,
    run_blocks,
)
from mevauction.evaluation.summary import SHAPE_TARGETS, summarize
from mevauction.intake import workloads


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="compare the default algorithm with rbuilder's builders",
                       description="Run every algorithm on the same generated blocks and compare "
                                   "block value and runtime (Boost+ paper § 5.4).")
    p.add_argument("--world", default="amm", help="world whose generator makes the blocks (default amm)")
    p.add_argument("--blocks", required=True, help="number of blocks")
    p.add_argument("--orders", required=True, help="orders per block")
    p.add_argument("--seed", default="0", help="run seed (default 0)")
    p.add_argument("--algorithms", default=",".join(ALGORITHMS),
                   help=f"comma-separated algorithms (default {','.join(ALGORITHMS)})")
    p.add_argument("--k-cutoff", default=str(K_CUTOFF), help="default algorithm's k_cutoff (default 8)")
    p.add_argument("--profile", default="mainnet",
                   help="workload shape: mainnet (seed 004 § 5.2, default) or contested (one huge group per block)")
    p.add_argument("--repeat", default="1", help="runs of each algorithm per block; median and spread (default 1)")
    p.add_argument("--workers", default="1", help="processes to spread blocks over (default 1)")
    p.add_argument("--ray", metavar="ADDRESS", help="spread blocks over a Ray cluster instead")
    p.add_argument("--json", required=True, metavar="OUT", help="write mevauction.bench/1 to OUT, - for stdout")
    p.add_argument("--plots", metavar="DIR", help="write Fig. 6 / Fig. 7 analogues as PNG into DIR")
    p.set_defaults(func=run)


def _int(text: str, field: str, minimum: int) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise InputError(field, f"not an integer: {text!r}") from None
    if value < minimum:
        raise InputError(field, f"must be at least {minimum}, got {value}")
    return value


def params_from_args(args: argparse.Namespace) -> BenchParams:
    workloads.generator_for(args.world, "--world")  # fails early, naming the flag
    workloads.profile_options(args.world, args.profile)
    algorithms = check_algorithms([a.strip() for a in args.algorithms.split(",") if a.strip()])
    return BenchParams(
        world=args.world,
        blocks=_int(args.blocks, "--blocks", 1),
        orders=_int(args.orders, "--orders", 1),
        seed=_int(args.seed, "--seed", 0),
        k_cutoff=_int(args.k_cutoff, "--k-cutoff", 2),
        algorithms=algorithms,
        repeat=_int(args.repeat, "--repeat", 1),
        profile=args.profile,
    )


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    workers = _int(args.workers, "--workers", 1)
    to_stdout = args.json == "-"
    console = Console(stderr=True)
    with Progress(TextColumn("[bold]bench[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False) as progress:
        task = progress.add_task(f"{params.world}, {params.orders} orders/block", total=params.blocks)
        rows = run_blocks(params, workers=workers, ray_address=args.ray,
                          on_block=lambda _row: progress.advance(task))
    doc = {
        "format": BENCH_FORMAT,
        "params": params.to_json(),
        "environment": environment(),
        "blocks": rows,
        "summary": summarize(rows, params.algorithms),
    }
    write_json(doc, args.json)
    if args.plots:
        from mevauction.evaluation.plots import write_plots

        paths = write_plots(doc, args.plots)
        console.print("plots: " + ", ".join(str(p) for p in paths))
    print_summary(doc, Console(file=sys.stderr if to_stdout else sys.stdout))
    return 0


def print_summary(doc: dict, console: Console) -> None:
    s = doc["summary"]
    table = Table(
        title=f"{doc['params']['blocks']} blocks × {doc['params']['orders']} orders "
              f"({doc['params']['world']}, {doc['params'].get('profile', 'contested')})"
    )
    for col in ("algorithm", "best share", "median gap (not best)", "median ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "algorithm" else "right")
    for name in doc["params"]["algorithms"]:
        gap = s["median_gap_when_not_best"][name]
        table.add_row(name, f"{s['best_share'][name]:.1%}", "—" if gap is None else f"{gap:.2%}",
                      f"{s['runtime_ms']['median'][name]:.1f}", f"{s['runtime_ms']['p99'][name]:.1f}")
    if "refunds_ms" in s:
        table.add_row("default + refunds", "", "", f"{s['refunds_ms']['median']:.1f}", f"{s['refunds_ms']['p99']:.1f}")
    console.print(table)
    names = doc["params"]["algorithms"]
    buckets = Table(title="best share by largest conflict group (Boost+ paper Fig. 6)")
    buckets.add_column("largest group")
    buckets.add_column("blocks", justify="right")
    for name in names:
        buckets.add_column(name, justify="right")
    for label, part in s.get("by_max_group", {}).items():
        buckets.add_row(label, str(part["blocks"]), *(f"{part['best_share'][n]:.0%}" for n in names))
    if "top_failing_share" in s:
        buckets.add_row("failing at top: value share", "",
                        *(f"{s['top_failing_share']['median'][n]:.1%}" for n in names))
    console.print(buckets)
    shape = s.get("workload_shape") or {}
    if shape:
        targets = Table(title="workload shape vs seed 004 § 5.2 targets")
        for col in ("statistic", "measured", "target"):
            targets.add_column(col)
        for key, target in SHAPE_TARGETS:
            if key in shape:
                value = shape[key]
                shown = f"{value:g}" if key in ("largest_group_median", "value_median_eth") else f"{value:.1%}"
                targets.add_row(key, shown, target)
        console.print(targets)
